"""End-to-end benchmark against a running stack (`just up` in another terminal).

1. Latency: tasks sent in batches, one batch at a time; for each task the time from the
   `sendTask` response to its WebSocket event. Median and p99.
2. Throughput: many tasks in batches from several concurrent clients; tasks per second
   from the first request to the last WebSocket event.

Prints a table, saves bench/results/e2e.json and renders it into docs/benchmarks.md and
the README (bench.readme).

`--preload N` first adds N processed tasks, older than any the benchmark sends, straight
into the stack's database (one INSERT ... SELECT generate_series per 100,000), then
measures as usual on that table, plus the page costs of `tasks`: the first page, the
1,000th by cursor and by offset. Those figures go to artifacts/e2e-preload.json, not to
the README, whose table is of a fresh stack.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench import e2e_report, readme
from binconv import reference
from devstack.infra import LocalPostgres
from devstack.stack import POSTGRES_PORT, STATE_DIR
from tests.support.client import GraphQLClient, ResultFeed, result_feed

ROOT = Path(__file__).resolve().parents[1]
# The database of `just up` (devstack), unless DATABASE_URL names another.
STACK_DATABASE_URL = (
    os.environ.get("DATABASE_URL") or LocalPostgres(STATE_DIR / "postgres", POSTGRES_PORT).url()
)
PRELOAD_CHUNK = 100_000
PRELOAD_MESSAGE = "preloaded ✓"
# Processed tasks, 10 ms apart, all from before the day the benchmark runs: no outbox
# events (long published) and no owner (open mode, as `just up`).
PRELOAD = """
INSERT INTO tasks (id, message, binary_code, created_at, updated_at, processed_at)
SELECT gen_random_uuid(), $1, $2, at, at, at
FROM (
    SELECT now() - interval '1 day' - i * interval '10 milliseconds' AS at
    FROM generate_series($3::bigint, $4::bigint) AS i
) AS times
"""
PAGE_SIZE = 20
PAGE_FIELDS = "id message binaryCode status createdAt updatedAt cursor"


@dataclass
class Figures:
    latency_tasks: int
    latency_batch: int
    median_ms: float
    p99_ms: float
    max_ms: float
    throughput_tasks: int
    throughput_batch: int
    clients: int
    tasks_per_second: float
    seconds: float


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def _arrival_times(feed: ResultFeed, ids: set[str], seconds: float) -> dict[str, float]:
    await feed.wait_for(ids, seconds)
    return {task_id: feed.first_arrival[task_id] for task_id in ids}


async def measure_latency(
    graphql: GraphQLClient, feed: ResultFeed, tasks: int, batch: int
) -> list[float]:
    latencies: list[float] = []
    for start in range(0, tasks, batch):
        messages = [f"latency {start + i} ✓" for i in range(batch)]
        sent = await graphql.send_tasks(messages)
        answered = time.perf_counter()
        arrived = await _arrival_times(feed, {t["id"] for t in sent}, 30)
        latencies += [(arrived[t["id"]] - answered) * 1000 for t in sent]
    return latencies


async def measure_throughput(
    graphql: GraphQLClient, feed: ResultFeed, tasks: int, batch: int, clients: int
) -> tuple[float, float]:
    batches = [[f"throughput {b}.{i}" for i in range(batch)] for b in range(tasks // batch)]
    queue: asyncio.Queue[list[str]] = asyncio.Queue()
    for messages in batches:
        queue.put_nowait(messages)
    ids: set[str] = set()

    async def client() -> None:
        while not queue.empty():
            sent = await graphql.send_tasks(queue.get_nowait())
            ids.update(t["id"] for t in sent)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    arrived = await _arrival_times(feed, ids, 120)
    seconds = max(arrived.values()) - started
    return len(ids) / seconds, seconds


async def run(
    graphql_url: str,
    websocket_url: str,
    latency_tasks: int = 200,
    latency_batch: int = 20,
    throughput_tasks: int = 5000,
    throughput_batch: int = 100,
    clients: int = 8,
    token: str | None = None,
) -> Figures:
    limits = httpx.Limits(max_connections=clients * 2)
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx.AsyncClient(timeout=60, limits=limits, headers=headers) as http,
        result_feed(websocket_url, headers=headers) as feed,
    ):
        graphql = GraphQLClient(graphql_url, http)
        await measure_latency(graphql, feed, latency_batch, latency_batch)  # warm-up
        latencies = await measure_latency(graphql, feed, latency_tasks, latency_batch)
        rate, seconds = await measure_throughput(
            graphql, feed, throughput_tasks, throughput_batch, clients
        )
        sample = await graphql.tasks(limit=5)
        assert all(t["binaryCode"] == reference.encode(t["message"]) for t in sample)
    return Figures(
        latency_tasks=latency_tasks,
        latency_batch=latency_batch,
        median_ms=statistics.median(latencies),
        p99_ms=percentile(latencies, 0.99),
        max_ms=max(latencies),
        throughput_tasks=throughput_tasks,
        throughput_batch=throughput_batch,
        clients=clients,
        tasks_per_second=rate,
        seconds=seconds,
    )


@dataclass
class Pages:
    """Milliseconds (median of `repeats`) of one `tasks` page of PAGE_SIZE, through the
    gateway: the first, and the `deep`-th by cursor and by offset."""

    tasks_in_table: int
    deep: int
    repeats: int
    first_ms: float
    deep_by_cursor_ms: float
    deep_by_offset_ms: float


async def preload(database_url: str, count: int) -> tuple[int, float]:
    """Add `count` processed tasks; returns the tasks in the table then, and the seconds."""
    started = time.perf_counter()
    connection = await asyncpg.connect(database_url)
    try:
        code = reference.encode(PRELOAD_MESSAGE)
        for first in range(1, count + 1, PRELOAD_CHUNK):
            last = min(count, first + PRELOAD_CHUNK - 1)
            await connection.execute(PRELOAD, PRELOAD_MESSAGE, code, first, last)
        # What autovacuum would have done by the time a table grew this large.
        await connection.execute("VACUUM (ANALYZE) tasks")
        # Write the preload's pages out now, not in a checkpoint during the measurement.
        with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
            await connection.execute("CHECKPOINT")
        total = int(await connection.fetchval("SELECT count(*) FROM tasks"))
    finally:
        await connection.close()
    return total, time.perf_counter() - started


async def measure_pages(
    graphql: GraphQLClient, tasks_in_table: int, deep: int = 1000, repeats: int = 21
) -> Pages:
    """The first page, and page `deep` (or the deepest the table holds) by cursor and by
    offset, alternated so that both see the same machine."""
    deep = max(2, min(deep, tasks_in_table // PAGE_SIZE))
    query = (
        "query($l: Int, $o: Int, $a: String) "
        f"{{ tasks(limit: $l, offset: $o, after: $a) {{ {PAGE_FIELDS} }} }}"
    )

    async def page(offset: int = 0, after: str | None = None) -> list[dict[str, Any]]:
        data = await graphql.execute(query, {"l": PAGE_SIZE, "o": offset, "a": after})
        return list(data["tasks"])

    after = None
    for _ in range(deep - 1):  # walk to the page before: its last task's cursor
        after = (await page(after=after))[-1]["cursor"]
    by_cursor, by_offset = await page(0, after), await page((deep - 1) * PAGE_SIZE)
    assert [t["id"] for t in by_cursor] == [t["id"] for t in by_offset], "pages disagree"
    timings: dict[str, list[float]] = {"first": [], "cursor": [], "offset": []}
    for _ in range(repeats):
        for name, offset, cursor in (
            ("first", 0, None),
            ("cursor", 0, after),
            ("offset", (deep - 1) * PAGE_SIZE, None),
        ):
            started = time.perf_counter()
            await page(offset, cursor)
            timings[name].append((time.perf_counter() - started) * 1000)
    return Pages(
        tasks_in_table=tasks_in_table,
        deep=deep,
        repeats=repeats,
        first_ms=statistics.median(timings["first"]),
        deep_by_cursor_ms=statistics.median(timings["cursor"]),
        deep_by_offset_ms=statistics.median(timings["offset"]),
    )


async def run_preloaded(
    graphql_url: str, websocket_url: str, database_url: str, count: int, **workload: Any
) -> tuple[Figures, Pages]:
    """The benchmark on a table that already holds `count` more tasks, and its pages."""
    total, seconds = await preload(database_url, count)
    print(f"preloaded {count:,} tasks in {seconds:.1f} s: {total:,} in the table", flush=True)
    figures = await run(graphql_url, websocket_url, **workload)
    async with httpx.AsyncClient(timeout=60) as http:
        pages = await measure_pages(GraphQLClient(graphql_url, http), total)
    return figures, pages


def pages_table(pages: Pages) -> str:
    return "\n".join(
        [
            f"tasks(limit: {PAGE_SIZE}) with {pages.tasks_in_table:,} tasks in the table, "
            f"median of {pages.repeats}:",
            "| page | ms |",
            "| --- | --- |",
            f"| 1st | {pages.first_ms:.2f} |",
            f"| {pages.deep:,}th by cursor (after) | {pages.deep_by_cursor_ms:.2f} |",
            f"| {pages.deep:,}th by offset | {pages.deep_by_offset_ms:.2f} |",
        ]
    )


def table(figures: Figures) -> str:
    return e2e_report.table(asdict(figures))


def save(figures: Figures) -> None:
    machine = f"{platform.machine()}, Python {platform.python_version()}"
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / "e2e.json").write_text(
        json.dumps({"machine": machine, "figures": asdict(figures)}, indent=2) + "\n"
    )
    readme.main()


def main() -> None:
    parser = argparse.ArgumentParser(prog="just bench-e2e")
    parser.add_argument("--graphql", default="http://127.0.0.1:8080/query")
    parser.add_argument("--websocket", default="ws://127.0.0.1:8082/ws")
    parser.add_argument("--tasks", type=int, default=5000, help="tasks for the throughput run")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--preload",
        type=int,
        default=0,
        metavar="N",
        help="first add N processed tasks to the stack's database (figures not saved)",
    )
    parser.add_argument("--database-url", default=STACK_DATABASE_URL, help="for --preload")
    parser.add_argument(
        "--token",
        help="a bearer token, for a stack with access control on (figures printed, not saved)",
    )
    args = parser.parse_args()
    workload = {"throughput_tasks": args.tasks, "clients": args.clients}
    if args.preload:
        figures, pages = asyncio.run(
            run_preloaded(args.graphql, args.websocket, args.database_url, args.preload, **workload)
        )
        print(table(figures))
        print(pages_table(pages))
        (ROOT / "artifacts").mkdir(exist_ok=True)
        (ROOT / "artifacts" / "e2e-preload.json").write_text(
            json.dumps({"figures": asdict(figures), "pages": asdict(pages)}, indent=2) + "\n"
        )
        return
    figures = asyncio.run(run(args.graphql, args.websocket, **workload, token=args.token))
    print(table(figures))
    if not args.token:
        save(figures)


if __name__ == "__main__":
    main()
