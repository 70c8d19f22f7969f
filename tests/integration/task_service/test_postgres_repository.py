"""What the asyncpg task repository does beyond the TaskRepository contract (which
`test_task_repository_contract.py` runs against it): one transaction per call."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from pyservices.task_service.adapters.postgres import PostgresTaskRepository, _iso
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


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kathmandu", "America/St_Johns"])
async def test_payload_times_are_written_as_isoformat_writes_them(
    pool: asyncpg.Pool, zone: str
) -> None:
    # The payloads are built in SQL; `now()` cannot be made to land on a whole second,
    # so the time format is checked here on fixed times, in sessions of other zones.
    times = [
        datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC),  # no microseconds: none written
        datetime(2026, 11, 26, 12, 0, 0, 1, tzinfo=UTC),
        datetime(2026, 11, 26, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
    ]
    async with pool.acquire() as connection:
        await connection.execute(f"SET TIME ZONE '{zone}'")
        try:
            written = [
                await connection.fetchval(f"SELECT {_iso('$1::timestamptz')}", t) for t in times
            ]
        finally:
            await connection.execute("RESET TIME ZONE")

    assert written == [t.isoformat() for t in times]
