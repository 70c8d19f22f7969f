"""What the asyncpg task repository does beyond the TaskRepository contract (which
`test_task_repository_contract.py` runs against it): one transaction per call."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from pyservices.task_service.adapters.postgres import PostgresTaskRepository
from pyservices.task_service.domain import NewTask

pytestmark = pytest.mark.integration


async def test_a_failure_writing_the_events_leaves_no_task_either(
    repository: PostgresTaskRepository, pool: asyncpg.Pool
) -> None:
    await pool.execute("ALTER TABLE outbox ADD CONSTRAINT refuse_all CHECK (false) NOT VALID")

    with pytest.raises(asyncpg.CheckViolationError):
        await repository.add_tasks([NewTask(uuid.uuid4(), m) for m in ("a", "b")])

    assert await pool.fetchval("SELECT count(*) FROM tasks") == 0
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0
