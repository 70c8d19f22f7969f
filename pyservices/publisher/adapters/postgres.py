"""The outbox in PostgreSQL: claim rows with `FOR UPDATE SKIP LOCKED`, delete in one statement."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from pyservices.publisher.domain import Backlog, OutboxEvent
from pyservices.publisher.ports import ClaimedBatch, OutboxStore

# Oldest first; rows another relay holds are skipped, not waited for.
CLAIM = """
SELECT id, topic, task_id::text AS task_id, payload
FROM outbox
ORDER BY id
LIMIT $1
FOR UPDATE SKIP LOCKED
"""
REMOVE = "DELETE FROM outbox WHERE id = ANY($1::bigint[])"
BACKLOG = """
SELECT count(*) AS count,
       coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest_age
FROM outbox
"""


class _PostgresBatch(ClaimedBatch):
    def __init__(self, connection: Any, events: Sequence[OutboxEvent]) -> None:
        self._connection = connection
        self.events = events

    async def remove(self, ids: Sequence[int]) -> None:
        await self._connection.execute(REMOVE, list(ids))


class PostgresOutboxStore(OutboxStore):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def claim(self, limit: int) -> AsyncIterator[ClaimedBatch]:
        # One transaction across read, publish and delete: the row locks last until the
        # delete commits (or roll back, unlocking the rows, if anything fails).
        async with self._pool.acquire() as connection, connection.transaction():
            rows = await connection.fetch(CLAIM, limit)
            yield _PostgresBatch(
                connection,
                [
                    OutboxEvent(
                        id=row["id"],
                        topic=row["topic"],
                        task_id=row["task_id"],
                        payload=bytes(row["payload"]),
                    )
                    for row in rows
                ],
            )

    async def backlog(self) -> Backlog:
        row = await self._pool.fetchrow(BACKLOG)
        return Backlog(count=row["count"], oldest_age_seconds=row["oldest_age"])

    async def ping(self) -> bool:
        return bool(await self._pool.fetchval("SELECT 1") == 1)
