"""The asyncpg task repository against a real, freshly migrated PostgreSQL database."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from devstack.infra import free_port
from pyservices.common.events import TaskCreated, TaskProcessed
from pyservices.task_service.adapters.postgres import PostgresTaskRepository, create_pool
from pyservices.task_service.domain import ALL_FIELDS, NewTask, ProcessedResult
from pyservices.task_service.ports import RepositoryUnavailable

pytestmark = pytest.mark.integration

A, HI = "01000001", "0110100001101001"


def new(*messages: str) -> list[NewTask]:
    return [NewTask(uuid.uuid4(), message) for message in messages]


async def outbox(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await pool.fetch(
        "SELECT topic, task_id, payload FROM outbox ORDER BY id"
    )
    return rows


class TestAddTasks:
    async def test_stores_every_task_in_order_with_one_created_event_each(
        self, repository: PostgresTaskRepository, pool: asyncpg.Pool
    ) -> None:
        tasks = new(" héllo ", "🦀", "a")
        stored = await repository.add_tasks(tasks)
        assert [(t.id, t.message) for t in stored] == [(t.id, t.message) for t in tasks]
        rows = await outbox(pool)
        assert [(r["topic"], r["task_id"]) for r in rows] == [("task.created", t.id) for t in tasks]
        for row, task in zip(rows, stored, strict=True):
            assert (
                row["payload"] == TaskCreated(str(task.id), task.message, task.created_at).to_json()
            )
        db = await pool.fetchrow(
            "SELECT created_at, updated_at FROM tasks WHERE id = $1", tasks[0].id
        )
        assert (db["created_at"], db["updated_at"]) == (stored[0].created_at, stored[0].updated_at)
        assert stored[0].created_at.utcoffset() is not None

    async def test_a_failure_half_way_leaves_nothing(
        self, repository: PostgresTaskRepository, pool: asyncpg.Pool
    ) -> None:
        await pool.execute("ALTER TABLE outbox ADD CONSTRAINT refuse_all CHECK (false) NOT VALID")
        with pytest.raises(asyncpg.CheckViolationError):
            await repository.add_tasks(new("a", "b"))
        assert await pool.fetchval("SELECT count(*) FROM tasks") == 0
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 0


class TestRecordProcessed:
    async def test_sets_the_code_and_writes_a_processed_event_from_the_stored_row(
        self, repository: PostgresTaskRepository, pool: asyncpg.Pool
    ) -> None:
        [task] = await repository.add_tasks(new("A"))
        recorded = await repository.record_processed([ProcessedResult(task.id, A)])
        assert recorded.found == recorded.newly_processed == {task.id}
        stored = await repository.get_task(task.id)
        assert stored is not None and stored.processed and stored.binary_code == A
        assert stored.processed_at is not None
        assert stored.updated_at == stored.processed_at
        row = (await outbox(pool))[-1]
        assert row["topic"] == "task.processed"
        expected = TaskProcessed(str(task.id), A, task.created_at, stored.processed_at)
        assert row["payload"] == expected.to_json()

    async def test_a_repeat_changes_nothing_and_emits_nothing(
        self, repository: PostgresTaskRepository, pool: asyncpg.Pool
    ) -> None:
        [task] = await repository.add_tasks(new("A"))
        await repository.record_processed([ProcessedResult(task.id, A)])
        before = await repository.get_task(task.id)
        again = await repository.record_processed([ProcessedResult(task.id, "01000010")])
        assert again.found == {task.id}
        assert again.newly_processed == frozenset()
        assert await repository.get_task(task.id) == before
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 2

    async def test_an_unknown_id_is_not_found(self, repository: PostgresTaskRepository) -> None:
        [task] = await repository.add_tasks(new("A"))
        unknown = uuid.uuid4()
        recorded = await repository.record_processed(
            [ProcessedResult(unknown, A), ProcessedResult(task.id, A)]
        )
        assert recorded.found == {task.id}

    async def test_duplicate_ids_in_one_batch_keep_the_first_and_emit_once(
        self, repository: PostgresTaskRepository, pool: asyncpg.Pool
    ) -> None:
        [task] = await repository.add_tasks(new("A"))
        recorded = await repository.record_processed(
            [ProcessedResult(task.id, A), ProcessedResult(task.id, HI)]
        )
        assert recorded.newly_processed == {task.id}
        stored = await repository.get_task(task.id)
        assert stored is not None and stored.binary_code == A
        assert (
            await pool.fetchval("SELECT count(*) FROM outbox WHERE topic = 'task.processed'") == 1
        )

    async def test_concurrent_batches_of_the_same_results_emit_each_event_once(
        self, repository: PostgresTaskRepository, pool: asyncpg.Pool
    ) -> None:
        tasks = await repository.add_tasks(new(*[f"m{i}" for i in range(50)]))
        forward = [ProcessedResult(t.id, A) for t in tasks]
        backward = list(reversed(forward))
        outcomes = await asyncio.gather(
            *(repository.record_processed(batch) for batch in [forward, backward, forward])
        )
        newly = [r.newly_processed for r in outcomes]
        assert frozenset().union(*newly) == {t.id for t in tasks}
        assert sum(len(n) for n in newly) == len(tasks)
        count = "SELECT count(*) FROM outbox WHERE topic = 'task.processed'"
        assert await pool.fetchval(count) == len(tasks)


class TestReading:
    async def test_lists_newest_first_with_offset(self, repository: PostgresTaskRepository) -> None:
        first = await repository.add_tasks(new("old"))
        second = await repository.add_tasks(new("new1", "new2"))
        listed = (await repository.list_tasks(10, 0, ALL_FIELDS, 1 << 20)).tasks
        # One request shares created_at: its tasks list in the reverse of the order sent.
        assert [t.message for t in listed] == ["new2", "new1", "old"]
        assert [t.id for t in listed[:2]] == [t.id for t in reversed(second)]
        last = await repository.list_tasks(1, 2, ALL_FIELDS, 1 << 20)
        assert [t.id for t in last.tasks] == [first[0].id]

    async def test_an_absent_task_is_none(self, repository: PostgresTaskRepository) -> None:
        assert await repository.get_task(uuid.uuid4()) is None


class TestOutage:
    async def test_an_unreachable_database_is_reported_quickly_as_unavailable(self) -> None:
        dead = f"postgresql://nobody@127.0.0.1:{free_port()}/none"
        pool = await create_pool(dead, max_size=2, command_timeout=1, connect_timeout=1)
        repository = PostgresTaskRepository(pool, acquire_timeout=1)
        try:
            for call in (
                repository.list_tasks(1, 0, ALL_FIELDS, 1 << 20),
                repository.add_tasks(new("a")),
            ):
                with pytest.raises(RepositoryUnavailable, match="database unavailable"):
                    await asyncio.wait_for(call, 5)
            with pytest.raises(RepositoryUnavailable):
                await repository.ping()
        finally:
            await pool.close()
