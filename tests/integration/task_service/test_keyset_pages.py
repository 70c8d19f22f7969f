"""Page cost that does not grow with the table: the statements' plans, checked with
EXPLAIN on a table of many tasks. A page after a cursor starts its index scan at the
cursor (no sort of the table, no rows read and discarded), for every task and for one
owner's (its partial index), in the generic plan a prepared statement settles on too;
retention reads the oldest tasks from the same index and stops at its cutoff."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from pyservices.task_service.adapters import postgres
from pyservices.task_service.adapters.postgres import fetch_page
from pyservices.task_service.domain import ALL_FIELDS, Cursor

pytestmark = pytest.mark.integration

ROWS = 50_000
PAGE = 20
BUDGET = 16 * 1024 * 1024
# Tasks spread over the last ROWS seconds, in requests of 10 that share a created_at;
# every third has no owner (open mode), the others belong to one of 97 owners.
FILL = """
INSERT INTO tasks (id, message, created_at, updated_at, owner)
SELECT gen_random_uuid(), 'message ' || i, now() - (i / 10) * interval '1 second',
       now() - (i / 10) * interval '1 second',
       CASE WHEN i % 3 = 0 THEN NULL ELSE 'owner ' || i % 97 END
FROM generate_series(1, $1::int) AS i
"""
OWNER = "owner 1"  # about 340 tasks: 17 pages
NTH = """
SELECT created_at, seq FROM tasks {where} ORDER BY created_at DESC, seq DESC OFFSET $1 LIMIT 1
"""


@pytest.fixture
async def conn(database_url: str) -> Any:
    connection = await asyncpg.connect(database_url)
    await connection.execute(FILL, ROWS)
    await connection.execute("ANALYZE tasks")
    yield connection
    await connection.close()


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


async def explain(
    conn: asyncpg.Connection, statement: str, *args: Any, analyze: bool = False
) -> Any:
    options = "ANALYZE, BUFFERS, " if analyze else ""
    raw = await conn.fetchval(f"EXPLAIN ({options}FORMAT JSON) {statement}", *args)
    return (json.loads(raw) if isinstance(raw, str) else raw)[0]


def page_scan(plan: dict[str, Any]) -> dict[str, Any]:
    """The scan under the page's LIMIT: the rows the page is taken from, in the order
    read. Nothing may sit between them (a Sort there would sort every row before it)."""
    [limit] = [node for node in nodes(plan) if node["Node Type"] == "Limit"]
    [scan] = limit["Plans"]
    found: dict[str, Any] = scan
    return found


def assert_seeks(plan: dict[str, Any], index: str) -> None:
    scan = page_scan(plan)
    assert (scan["Node Type"], scan["Index Name"]) == ("Index Scan", index), scan
    assert "ROW(created_at, seq) <" in scan["Index Cond"], scan
    assert "Filter" not in scan, scan  # every row the index yields is one of the page


def seq_scans(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [node for node in nodes(plan) if node["Node Type"] == "Seq Scan"]


async def generic_plan(conn: asyncpg.Connection, statement: str, types: str, args: str) -> Any:
    """The plan a prepared statement settles on once it stops planning per call (asyncpg
    prepares every statement): made without the parameters' values."""
    await conn.execute(f"PREPARE page({types}) AS {statement}")
    await conn.execute("SET plan_cache_mode = force_generic_plan")
    try:
        raw = await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE page({args})")
    finally:
        await conn.execute("RESET plan_cache_mode; DEALLOCATE page")
    return json.loads(raw)[0]


def literal(row: asyncpg.Record) -> str:
    return f"'{row['created_at'].isoformat()}', {row['seq']}"


async def test_a_page_after_a_cursor_seeks_the_newest_first_index(
    conn: asyncpg.Connection,
) -> None:
    deep = await conn.fetchrow(NTH.format(where=""), 1000 * PAGE)
    args = (PAGE, 0, True, True, BUDGET, deep["created_at"], deep["seq"])

    custom = await explain(conn, postgres.LIST_TASKS_AFTER, *args)
    generic = await generic_plan(
        conn,
        postgres.LIST_TASKS_AFTER,
        "int, int, bool, bool, bigint, timestamptz, bigint",
        f"{PAGE}, 0, true, true, {BUDGET}, {literal(deep)}",
    )

    assert_seeks(custom["Plan"], "tasks_newest_first")
    assert not seq_scans(custom["Plan"]), custom
    # Planned without knowing the limit, the generic plan expects a tenth of the table
    # in the page and fetches the large fields through a hash join over the whole
    # table: PostgreSQL keeps the custom plan, far cheaper (the test below).
    assert_seeks(generic["Plan"], "tasks_newest_first")


async def test_an_owners_page_after_a_cursor_seeks_the_owners_partial_index(
    conn: asyncpg.Connection,
) -> None:
    deep = await conn.fetchrow(NTH.format(where=f"WHERE owner = '{OWNER}'"), 10 * PAGE)
    args = (PAGE, 0, True, True, BUDGET, OWNER, deep["created_at"], deep["seq"])

    custom = await explain(conn, postgres.LIST_OWNER_TASKS_AFTER, *args)
    generic = await generic_plan(
        conn,
        postgres.LIST_OWNER_TASKS_AFTER,
        "int, int, bool, bool, bigint, text, timestamptz, bigint",
        f"{PAGE}, 0, true, true, {BUDGET}, '{OWNER}', {literal(deep)}",
    )

    for plan in (custom["Plan"], generic["Plan"]):
        assert_seeks(plan, "tasks_owner_newest_first")
        assert "owner = " in page_scan(plan)["Index Cond"]
        assert not seq_scans(plan), plan


async def test_the_page_statements_stay_on_their_custom_plans(conn: asyncpg.Connection) -> None:
    """asyncpg prepares each statement once per connection, and PostgreSQL switches to
    the generic plan after five calls unless it costs more than the custom ones: it
    does for every task (a hash join over the table, above), not for one owner's
    (which seeks the owner's index either way, above)."""
    newest = await conn.fetchrow(NTH.format(where=""), 0)
    mine = await conn.fetchrow(NTH.format(where=f"WHERE owner = '{OWNER}'"), 0)
    for _ in range(12):
        await fetch_page(conn, PAGE, 0, ALL_FIELDS, BUDGET, None, Cursor(*newest))
        await fetch_page(conn, PAGE, 0, ALL_FIELDS, BUDGET, OWNER, Cursor(*mine))
        await fetch_page(conn, PAGE, 0, ALL_FIELDS, BUDGET)

    rows = await conn.fetch(
        "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
    )
    used = {row["statement"]: (row["generic_plans"], row["custom_plans"]) for row in rows}
    assert used[postgres.LIST_TASKS_AFTER] == (0, 12)
    assert used[postgres.LIST_TASKS] == (0, 12)
    assert sum(used[postgres.LIST_OWNER_TASKS_AFTER]) == 12


async def test_the_thousandth_page_by_cursor_reads_what_the_first_does(
    conn: asyncpg.Connection,
) -> None:
    """Blocks read (EXPLAIN ANALYZE, BUFFERS): page 1,000 by cursor costs what page 1
    does, where page 1,000 by offset reads every row before it."""
    newest = await conn.fetchrow(NTH.format(where=""), 0)
    deep = await conn.fetchrow(NTH.format(where=""), 1000 * PAGE - 1)
    fields = (ALL_FIELDS.message, ALL_FIELDS.binary_code, BUDGET)

    async def blocks(statement: str, *args: Any) -> int:
        await explain(conn, statement, *args, analyze=True)  # warm: both read from cache
        plan = (await explain(conn, statement, *args, analyze=True))["Plan"]
        return int(plan["Shared Hit Blocks"] + plan["Shared Read Blocks"])

    first = await blocks(postgres.LIST_TASKS, PAGE, 0, *fields)
    thousandth = await blocks(
        postgres.LIST_TASKS_AFTER, PAGE, 0, *fields, deep["created_at"], deep["seq"]
    )
    by_offset = await blocks(postgres.LIST_TASKS, PAGE, 1000 * PAGE, *fields)
    also_first = await blocks(
        postgres.LIST_TASKS_AFTER, PAGE, 0, *fields, newest["created_at"], newest["seq"] + 1
    )

    assert thousandth <= first + 5 and also_first <= first + 5, (first, thousandth)
    assert by_offset > 10 * thousandth, (by_offset, thousandth)


async def test_retention_reads_the_oldest_tasks_from_the_index_up_to_its_cutoff(
    conn: asyncpg.Connection,
) -> None:
    cutoff = datetime.now(UTC) - timedelta(days=30)  # nothing that old: nothing read

    plan = await explain(conn, postgres.REMOVE_OLD_TASKS, cutoff, 1000)

    scans = [n for n in nodes(plan["Plan"]) if n.get("Relation Name") == "tasks"]
    assert [
        n["Node Type"] for n in scans if "Index Cond" in n and "created_at <" in n["Index Cond"]
    ]
    assert not [n for n in scans if n["Node Type"] == "Seq Scan"], plan
    assert not [n for n in nodes(plan["Plan"]) if n["Node Type"] == "Sort"], plan
