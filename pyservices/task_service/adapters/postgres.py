"""The task repository on PostgreSQL (asyncpg): tasks and their outbox events.

Each method is one transaction of a few batched statements (arrays through `unnest`),
never a round trip per row. Timestamps come from the database (`now()`, fixed for the
whole transaction) and are read back with RETURNING, so the event payloads carry
exactly the stored values.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from pyservices.common.events import TASK_CREATED, TASK_PROCESSED, TaskCreated, TaskProcessed
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

# One owner for the whole statement ($3, NULL in open mode): a request is one caller's.
INSERT_TASKS = """
INSERT INTO tasks (id, message, owner)
SELECT id, message, $3::text
FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS r(id, message, n)
ORDER BY n
RETURNING id, seq, created_at, updated_at
"""

INSERT_EVENTS = """
INSERT INTO outbox (topic, task_id, payload, trace_context)
SELECT $1::text, id, payload, $4::text FROM unnest($2::uuid[], $3::bytea[]) AS e(id, payload)
"""
# Each event its own trace context (results of several traces recorded together).
INSERT_TRACED_EVENTS = """
INSERT INTO outbox (topic, task_id, payload, trace_context)
SELECT $1::text, * FROM unnest($2::uuid[], $3::bytea[], $4::text[])
"""

# Duplicate ids in one batch keep their first result. Only tasks not yet processed are
# updated (a repeat changes nothing); the outer query also names the ids that exist.
RECORD_PROCESSED = """
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
)
SELECT input.id, updated.binary_code, updated.created_at, updated.processed_at, updated.owner
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


async def create_pool(
    dsn: str, max_size: int, command_timeout: float, connect_timeout: float
) -> asyncpg.Pool:
    """A pool that connects on demand, so the service starts (and reports itself
    unhealthy) while PostgreSQL is down, and recovers by itself when it is back."""
    return await asyncpg.create_pool(
        dsn,
        min_size=0,
        max_size=max_size,
        command_timeout=command_timeout,
        timeout=connect_timeout,
    )


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
        stored: list[Task] = []
        async with self._transaction() as conn:
            # Statements of at most `insert_chunk_bytes` of messages each, of one owner:
            # one statement for a whole maximum request held its 64 MiB array, its JSON
            # payloads and their wire encodings at once. Still one transaction.
            for chunk in chunks_by_size(tasks, self._insert_chunk_bytes):
                ids, owner = [task.id for task in chunk], chunk[0].owner
                messages = [task.message for task in chunk]
                rows = await conn.fetch(INSERT_TASKS, ids, messages, owner)
                stamps = {row["id"]: row for row in rows}
                done = [
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
                payloads = [
                    TaskCreated(str(t.id), t.message, t.created_at, owner).to_json() for t in done
                ]
                await conn.execute(INSERT_EVENTS, TASK_CREATED, ids, payloads, trace_context)
                stored.extend(done)
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
        traced: dict[uuid.UUID, str | None] | None = None
        if any(result.trace_context for result in results):
            traced = {}
            for result in results:
                traced.setdefault(result.task_id, result.trace_context)
        for attempt in range(1, RETRIES_ON_CONFLICT + 1):
            try:
                return await self._record_processed(ids, codes, traced)
            except asyncpg.TransactionRollbackError:  # deadlock or serialization failure
                if attempt == RETRIES_ON_CONFLICT:
                    raise
        raise AssertionError("unreachable")

    async def _record_processed(
        self,
        ids: list[uuid.UUID],
        codes: list[str],
        traced: dict[uuid.UUID, str | None] | None,
    ) -> Recorded:
        async with self._transaction() as conn:
            rows = await conn.fetch(RECORD_PROCESSED, ids, codes)
            updated = [row for row in rows if row["processed_at"] is not None]
            if updated:
                payloads = [_processed_event(row).to_json() for row in updated]
                event_ids = [row["id"] for row in updated]
                if traced is None:
                    await conn.execute(INSERT_EVENTS, TASK_PROCESSED, event_ids, payloads, None)
                else:
                    contexts = [traced.get(event_id) for event_id in event_ids]
                    await conn.execute(
                        INSERT_TRACED_EVENTS, TASK_PROCESSED, event_ids, payloads, contexts
                    )
        return Recorded(
            found=frozenset(row["id"] for row in rows),
            newly_processed=frozenset(row["id"] for row in updated),
        )

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


def _processed_event(row: Any) -> TaskProcessed:
    return TaskProcessed(
        str(row["id"]), row["binary_code"], row["created_at"], row["processed_at"], row["owner"]
    )


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
