"""Retention on PostgreSQL: a batch skips the rows another transaction holds instead of
waiting for it, and takes the events still waiting for the tasks it removes."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import asyncpg
import pytest

from pyservices.task_service.adapters.postgres import PostgresTaskRepository
from pyservices.task_service.domain import NewTask, ProcessedResult

pytestmark = pytest.mark.integration


async def test_a_batch_skips_a_task_being_recorded_and_leaves_it_for_the_next(
    pool: asyncpg.Pool, repository: PostgresTaskRepository
) -> None:
    held, free = await repository.add_tasks([NewTask(uuid.uuid4(), m) for m in ("held", "free")])
    cutoff = held.created_at + timedelta(seconds=1)

    async with pool.acquire() as other, other.transaction():
        # A result being recorded holds its task's row until it commits.
        await other.execute("SELECT 1 FROM tasks WHERE id = $1 FOR UPDATE", held.id)
        removed = await asyncio.wait_for(repository.remove_created_before(cutoff, 10), 2)
    assert removed == 1
    assert await repository.get_task(free.id) is None
    assert await repository.get_task(held.id) is not None

    await repository.record_processed([ProcessedResult(held.id, "01101000" * 4)])
    assert await repository.remove_created_before(cutoff, 10) == 1
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
