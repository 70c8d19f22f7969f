"""The outbox in PostgreSQL: claim rows with `FOR UPDATE SKIP LOCKED`, delete in one statement."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from pyservices.publisher.domain import Backlog, ClaimLimits, OutboxEvent
from pyservices.publisher.ports import ClaimedBatch, OutboxStore

# Oldest first, at most $1 rows and $2 payload bytes (the first row whatever its size),
# skipping rows another relay holds, and locking no row it does not return.
#
# Why a walk, one row per step, and not `ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`
# with a running sum: PostgreSQL allows no window function at the level of a FOR UPDATE,
# and locking $1 rows first to keep a prefix of them would leave the rest locked, unused,
# until commit (so another relay skips them for nothing). Computing the prefix without
# locks and then locking it is no better: a second relay computes the same prefix as
# the first, finds it all locked, and comes back empty while rows wait.
# So each step reads the next row's id and size without a lock (`next`), decides whether
# it fits (`step`, the rule of `ClaimLimits.admits`), and only then tries to lock it
# (`locked`, SKIP LOCKED, and only if it fits): a row another relay holds (or just
# deleted) is passed over, a row that does not fit ends the walk unlocked. Every row
# locked is a row returned, and the rows stay locked until the batch's transaction ends.
# `octet_length` of a bytea reads its stored size: the payload is not detoasted.
# The walk starts before id 1 (ids are an identity, from 1). With $3, only rows of
# those topics are walked, with $4 only task.created rows of at most $4 bytes: the relay
# holds new tasks back while their work queue is full. A traced row (one with a trace
# context) also says how long it waited; an untraced one costs nothing more.
CLAIM = """
WITH RECURSIVE walk (id, fits, kept, rows_kept, bytes_kept) AS (
    SELECT 0::bigint, true, false, 0, 0::bigint
  UNION ALL
    SELECT next.id, step.fits, locked.id IS NOT NULL,
           walk.rows_kept + (locked.id IS NOT NULL)::int,
           walk.bytes_kept + CASE WHEN locked.id IS NOT NULL THEN next.size ELSE 0 END
    FROM walk
    CROSS JOIN LATERAL (
        SELECT o.id, octet_length(o.payload)::bigint AS size
        FROM outbox o
        WHERE o.id > walk.id AND ($3::text[] IS NULL OR o.topic = ANY($3::text[]))
          AND ($4::bigint IS NULL OR o.topic <> 'task.created' OR octet_length(o.payload) <= $4)
        ORDER BY o.id
        LIMIT 1
    ) next
    CROSS JOIN LATERAL (
        SELECT walk.rows_kept = 0 OR walk.bytes_kept + next.size <= $2::bigint AS fits
    ) step
    LEFT JOIN LATERAL (
        SELECT o.id FROM outbox o WHERE o.id = next.id AND step.fits
        FOR UPDATE SKIP LOCKED
    ) locked ON true
    WHERE walk.fits AND walk.rows_kept < $1::int
)
SELECT o.id, o.topic, o.task_id::text AS task_id, o.payload, o.trace_context,
       CASE WHEN o.trace_context IS NOT NULL
            THEN extract(epoch FROM clock_timestamp() - o.created_at)::float8 * 1000 END
           AS waited_ms,
       (SELECT bool_or(NOT fits) FROM walk) AS byte_limited
FROM walk
JOIN outbox o USING (id)
WHERE walk.kept
ORDER BY o.id
"""
REMOVE = "DELETE FROM outbox WHERE id = ANY($1::bigint[])"
BACKLOG = """
SELECT count(*) AS count,
       coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest_age
FROM outbox
"""


class _PostgresBatch(ClaimedBatch):
    def __init__(self, connection: Any, events: Sequence[OutboxEvent], byte_limited: bool) -> None:
        self._connection = connection
        self.events = events
        self.byte_limited = byte_limited

    async def remove(self, ids: Sequence[int]) -> None:
        await self._connection.execute(REMOVE, list(ids))


class PostgresOutboxStore(OutboxStore):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def claim(self, limits: ClaimLimits) -> AsyncIterator[ClaimedBatch]:
        # One transaction across read, publish and delete: the row locks last until the
        # delete commits (or roll back, unlocking the rows, if anything fails).
        async with self._pool.acquire() as connection, connection.transaction():
            topics = None if limits.topics is None else sorted(limits.topics)
            rows = await connection.fetch(
                CLAIM, limits.rows, limits.bytes, topics, limits.created_max_bytes
            )
            yield _PostgresBatch(
                connection,
                [
                    OutboxEvent(
                        id=row["id"],
                        topic=row["topic"],
                        task_id=row["task_id"],
                        payload=bytes(row["payload"]),
                        trace_context=row["trace_context"],
                        waited_ms=row["waited_ms"],
                    )
                    for row in rows
                ],
                byte_limited=bool(rows and rows[0]["byte_limited"]),
            )

    async def backlog(self) -> Backlog:
        row = await self._pool.fetchrow(BACKLOG)
        return Backlog(count=row["count"], oldest_age_seconds=row["oldest_age"])

    async def ping(self) -> bool:
        return bool(await self._pool.fetchval("SELECT 1") == 1)
