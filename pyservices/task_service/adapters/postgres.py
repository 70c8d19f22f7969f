"""The task repository on PostgreSQL (asyncpg): tasks and their outbox events.

Each method is one transaction of batched statements (arrays through `unnest`), never a
round trip per row. Storing tasks or results and their outbox events is one statement
(data-modifying CTEs), so the usual call is one round trip, not four (BEGIN, the two
statements, COMMIT): each round trip is a hand-off between two processes, and on two
shared cores those cost more than the statements (docs/benchmarks.md). Timestamps come
from the database (`now()`, fixed for the whole transaction) and the event payloads are
built in the same statement from the stored rows, byte for byte as `TaskCreated.to_json`
and `TaskProcessed.to_json` build them (the repository's contract compares the bytes).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from pyservices.common.events import TASK_CREATED, TASK_PROCESSED
from pyservices.common.lifecycle import keep_session
from pyservices.task_service.domain import (
    ALL_FIELDS,
    Cursor,
    NewTask,
    ProcessedResult,
    Task,
    TaskFields,
)
from pyservices.task_service.ports import (
    Recorded,
    RepositoryUnavailable,
    SizedPage,
    TaskRepository,
)

# Errors that say "the database cannot be used right now", as opposed to a bug.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, disk full
)
# Two streams recording overlapping results may lock rows in opposite orders.
RETRIES_ON_CONFLICT = 3


def _iso(column: str) -> str:
    """SQL for a timestamptz as Python's `datetime.isoformat()` writes an aware UTC one:
    microseconds only when there are any, and the offset as +00:00."""
    utc = f"({column} AT TIME ZONE 'UTC')"
    return (
        f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN to_char({utc}, 'US') = "
        f"'000000' THEN '' ELSE to_char({utc}, '.US') END || '+00:00'"
    )


def _json_text(column: str) -> str:
    """SQL for a text as a JSON string or null (to_json escapes exactly what orjson does:
    the quote, the backslash and the control characters, in the same forms)."""
    return f"coalesce(to_json({column})::text, 'null')"


# The payload of TaskCreated.to_json, from an inserted row.
CREATED_PAYLOAD = (
    """convert_to('{"id":"' || id || '","message":' || """
    + _json_text("message")
    + """ || ',"createdAt":"' || """
    + _iso("created_at")
    + """ || '","owner":' || """
    + _json_text("owner")
    + """ || '}', 'UTF8')"""
)
# The payload of TaskProcessed.to_json, from an updated row.
PROCESSED_PAYLOAD = (
    """convert_to('{"id":"' || id || '","binaryCode":' || """
    + _json_text("binary_code")
    + """ || ',"createdAt":"' || """
    + _iso("created_at")
    + """ || '","processedAt":"' || """
    + _iso("processed_at")
    + """ || '","owner":' || """
    + _json_text("owner")
    + """ || '}', 'UTF8')"""
)

# The tasks and their task.created events, in the order given. One owner for the whole
# statement ($3, NULL in open mode): a request is one caller's. One trace context ($4)
# for all: a request is one trace.
INSERT_TASKS = f"""
WITH inserted AS (
    INSERT INTO tasks (id, message, owner)
    SELECT id, message, $3::text
    FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS r(id, message, n)
    ORDER BY n
    RETURNING id, seq, created_at, updated_at, message, owner
), events AS (
    INSERT INTO outbox (topic, task_id, payload, trace_context)
    SELECT '{TASK_CREATED}', id, {CREATED_PAYLOAD}, $4::text
    FROM inserted
    ORDER BY seq
)
SELECT id, seq, created_at, updated_at FROM inserted
"""

# Duplicate ids in one batch keep their first result. Only tasks not yet processed are
# updated (a repeat changes nothing) and get a task.processed event, with the trace
# context given for their id ($3, $4: one each, or NULL arrays when untraced); the
# outer query also names the ids that exist.
RECORD_PROCESSED = f"""
WITH input AS (
    SELECT DISTINCT ON (id) id, code
    FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS r(id, code, n)
    ORDER BY id, n
), updated AS (
    UPDATE tasks AS t
    SET binary_code = input.code, processed_at = now(), updated_at = now()
    FROM input
    WHERE t.id = input.id AND t.processed_at IS NULL
    RETURNING t.id, t.binary_code, t.created_at, t.processed_at, t.owner
), events AS (
    INSERT INTO outbox (topic, task_id, payload, trace_context)
    SELECT '{TASK_PROCESSED}', id, {PROCESSED_PAYLOAD}, traced.context
    FROM updated
    LEFT JOIN unnest($3::uuid[], $4::text[]) AS traced(task_id, context) ON task_id = id
    ORDER BY id
)
SELECT input.id, updated.processed_at
FROM input LEFT JOIN updated ON updated.id = input.id
WHERE updated.id IS NOT NULL OR EXISTS (SELECT 1 FROM tasks WHERE tasks.id = input.id)
"""

# A page in one statement (one snapshot), in two steps. First the page itself, in the
# order clients rely on, with the size of each task's selected large fields ($3: the
# message, $4: the binary code): octet_length reads a TOASTed value's header, not the
# value. Then those fields, by primary key, only when the sizes sum to at most the
# budget ($5): a page over it is refused, so it is never read, and memory stays bounded
# by the budget whatever limit was asked for. A CASE that yields '' leaves the column
# unread, so a list of ids reads no message and no code at all.
#
# An owner's page ($6) is its own statement, not "$6 IS NULL OR owner = $6": a prepared
# statement's generic plan could not then use the owner's index. So is a page after a
# cursor: a row comparison on the index's own columns, which the index scan starts at
# (tests/integration/task_service/test_keyset_pages.py checks the plans).
LIST_PAGE = """
WITH page AS (
    SELECT id, created_at, seq,
           CASE WHEN $3 THEN octet_length(message) ELSE 0 END
           + CASE WHEN $4 THEN octet_length(binary_code) ELSE 0 END AS size
    FROM tasks {where}
    ORDER BY created_at DESC, seq DESC
    LIMIT $1 OFFSET $2
), sized AS (
    SELECT id, created_at, seq, size, sum(size) OVER () <= $5::bigint AS fits FROM page
)
SELECT t.id, t.seq, t.created_at, t.updated_at, t.processed_at, t.owner, sized.size,
       CASE WHEN $3 AND sized.fits THEN t.message ELSE '' END AS message,
       CASE WHEN $4 AND sized.fits THEN t.binary_code ELSE '' END AS binary_code
FROM sized JOIN tasks AS t ON t.id = sized.id
ORDER BY sized.created_at DESC, sized.seq DESC
"""
LIST_TASKS = LIST_PAGE.format(where="")
LIST_OWNER_TASKS = LIST_PAGE.format(where="WHERE owner = $6")
LIST_TASKS_AFTER = LIST_PAGE.format(where="WHERE (created_at, seq) < ($6, $7)")
LIST_OWNER_TASKS_AFTER = LIST_PAGE.format(where="WHERE owner = $6 AND (created_at, seq) < ($7, $8)")
# Retention, one batch: the oldest tasks first (the newest-first index read backwards,
# so the scan stops at the cutoff), rows held by another transaction skipped rather
# than waited for, and the events still waiting for those tasks removed with them (a
# scan of the outbox, which holds only what is not yet published: no index on task_id
# to slow every insert for this).
REMOVE_OLD_TASKS = """
WITH doomed AS (
    SELECT id FROM tasks
    WHERE created_at < $1
    ORDER BY created_at, seq
    LIMIT $2
    FOR UPDATE SKIP LOCKED
), removed AS (
    DELETE FROM tasks WHERE id IN (SELECT id FROM doomed) RETURNING id
), events AS (
    DELETE FROM outbox WHERE task_id IN (SELECT id FROM removed)
)
SELECT count(*) FROM removed
"""
# max - min + 1 is an upper bound of the rows (two probes of the primary key), not a
# count(*) that would read every row of a large backlog on each request.
BACKLOG = "SELECT coalesce(max(id) - min(id) + 1, 0) FROM outbox"
# A backlog estimate serves the requests of this long.
BACKLOG_TTL_SECONDS = 0.5
# Another owner's task ($4) reads as no task at all; NULL (open mode) reads any task.
GET_TASK = """
SELECT id, seq, created_at, updated_at, processed_at, owner,
       CASE WHEN $2 THEN message ELSE '' END AS message,
       CASE WHEN $3 THEN binary_code ELSE '' END AS binary_code
FROM tasks WHERE id = $1 AND ($4::text IS NULL OR owner = $4)
"""


def new_pool(
    dsn: str, max_size: int, command_timeout: float, connect_timeout: float
) -> asyncpg.Pool:
    """A pool that connects on demand, so the service starts (and reports itself
    unhealthy) while PostgreSQL is down, and recovers by itself when it is back.
    Not yet initialised: the service's `start` awaits it (`create_pool` here)."""
    return asyncpg.create_pool(
        dsn,
        min_size=0,
        max_size=max_size,
        command_timeout=command_timeout,
        timeout=connect_timeout,
        reset=keep_session,
    )


async def create_pool(
    dsn: str, max_size: int, command_timeout: float, connect_timeout: float
) -> asyncpg.Pool:
    """`new_pool`, initialised."""
    return await new_pool(dsn, max_size, command_timeout, connect_timeout)


# Characters of messages in one INSERT statement (a maximum request is 64 MiB).
INSERT_CHUNK_BYTES = 4 * 1024 * 1024


def chunks_by_size(tasks: Sequence[NewTask], limit: int) -> Iterator[Sequence[NewTask]]:
    """Consecutive runs of tasks of one owner whose messages hold at most `limit`
    characters (at least one task each)."""
    start, size = 0, 0
    for index, task in enumerate(tasks):
        if index > start and (size + len(task.message) > limit or task.owner != tasks[start].owner):
            yield tasks[start:index]
            start, size = index, 0
        size += len(task.message)
    if start < len(tasks):
        yield tasks[start:]


class PostgresTaskRepository(TaskRepository):
    def __init__(
        self,
        pool: asyncpg.Pool,
        acquire_timeout: float,
        insert_chunk_bytes: int = INSERT_CHUNK_BYTES,
    ) -> None:
        self._pool = pool
        self._acquire_timeout = acquire_timeout
        self._insert_chunk_bytes = insert_chunk_bytes
        self._backlog = (0, -BACKLOG_TTL_SECONDS)  # (estimate, when measured)

    async def add_tasks(
        self, tasks: Sequence[NewTask], trace_context: str | None = None
    ) -> list[Task]:
        # Statements of at most `insert_chunk_bytes` of messages each, of one owner: one
        # statement for a whole maximum request held its 64 MiB array, its JSON payloads
        # and their wire encodings at once. Several statements share one transaction;
        # one (the usual request) is a transaction by itself.
        chunks = list(chunks_by_size(tasks, self._insert_chunk_bytes))
        if not chunks:
            return []
        stored: list[Task] = []
        many = len(chunks) > 1
        async with self._transaction() if many else self._connection() as conn:
            for chunk in chunks:
                owner = chunk[0].owner
                rows = await conn.fetch(
                    INSERT_TASKS,
                    [task.id for task in chunk],
                    [task.message for task in chunk],
                    owner,
                    trace_context or None,  # as for results: no context is NULL, not ""
                )
                stamps = {row["id"]: row for row in rows}
                stored += [
                    Task(
                        t.id,
                        t.message,
                        "",
                        stamps[t.id]["created_at"],
                        stamps[t.id]["updated_at"],
                        owner=owner,
                        seq=stamps[t.id]["seq"],
                    )
                    for t in chunk
                ]
        return stored

    async def backlog(self) -> int:
        estimate, measured = self._backlog
        if time.monotonic() - measured >= BACKLOG_TTL_SECONDS:
            async with self._connection() as conn:
                estimate = int(await conn.fetchval(BACKLOG))
            self._backlog = (estimate, time.monotonic())
        return estimate

    async def record_processed(self, results: Sequence[ProcessedResult]) -> Recorded:
        ids = [result.task_id for result in results]
        codes = [result.binary_code for result in results]
        # Only when tracing: the first result's context for each id (as its code is).
        traced_ids: list[uuid.UUID] | None = None
        contexts: list[str | None] | None = None
        if any(result.trace_context for result in results):
            traced: dict[uuid.UUID, str | None] = {}
            for result in results:
                traced.setdefault(result.task_id, result.trace_context or None)
            traced_ids, contexts = list(traced), list(traced.values())
        for attempt in range(1, RETRIES_ON_CONFLICT + 1):
            try:
                async with self._connection() as conn:
                    rows = await conn.fetch(RECORD_PROCESSED, ids, codes, traced_ids, contexts)
            except asyncpg.TransactionRollbackError:  # deadlock or serialization failure
                if attempt == RETRIES_ON_CONFLICT:
                    raise
                continue
            return Recorded(
                found=frozenset(row["id"] for row in rows),
                newly_processed=frozenset(
                    row["id"] for row in rows if row["processed_at"] is not None
                ),
            )
        raise AssertionError("unreachable")

    async def list_tasks(
        self,
        limit: int,
        offset: int,
        fields: TaskFields,
        max_bytes: int,
        owner: str | None = None,
        after: Cursor | None = None,
    ) -> SizedPage:
        async with self._connection() as conn:
            rows = await fetch_page(conn, limit, offset, fields, max_bytes, owner, after)
        return SizedPage([_task(row) for row in rows], [row["size"] for row in rows])

    async def remove_created_before(self, cutoff: datetime, limit: int) -> int:
        async with self._transaction() as conn:
            return int(await conn.fetchval(REMOVE_OLD_TASKS, cutoff, limit))

    async def get_task(
        self, task_id: uuid.UUID, fields: TaskFields = ALL_FIELDS, owner: str | None = None
    ) -> Task | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(GET_TASK, task_id, fields.message, fields.binary_code, owner)
        return None if row is None else _task(row)

    async def ping(self) -> bool:
        async with self._connection() as conn:
            return bool(await conn.fetchval("SELECT 1") == 1)

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        try:
            async with self._pool.acquire(timeout=self._acquire_timeout) as conn:
                yield conn
        except UNAVAILABLE_ERRORS as exc:
            raise RepositoryUnavailable(f"database unavailable: {type(exc).__name__}") from exc

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self._connection() as conn, conn.transaction():
            yield conn


async def fetch_page(
    conn: asyncpg.Connection,
    limit: int,
    offset: int,
    fields: TaskFields,
    max_bytes: int,
    owner: str | None = None,
    after: Cursor | None = None,
) -> list[asyncpg.Record]:
    """The rows of LIST_TASKS, or of LIST_OWNER_TASKS with an owner, or of their _AFTER
    forms with a cursor (on a connection of the caller's, so tests can watch what one
    statement reads)."""
    args: tuple[object, ...] = (limit, offset, fields.message, fields.binary_code, max_bytes)
    if owner is not None:
        args += (owner,)
    if after is None:
        statement = LIST_TASKS if owner is None else LIST_OWNER_TASKS
    else:
        statement = LIST_TASKS_AFTER if owner is None else LIST_OWNER_TASKS_AFTER
        args += (after.created_at, after.seq)
    rows: list[asyncpg.Record] = await conn.fetch(statement, *args)
    return rows


def _task(row: Any) -> Task:
    return Task(
        id=row["id"],
        message=row["message"],
        binary_code=row["binary_code"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        processed_at=row["processed_at"],
        owner=row["owner"],
        seq=row["seq"],
    )
