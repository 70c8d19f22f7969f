"""The repository's byte bounds against a real PostgreSQL: a request stored in chunked
statements is still one transaction, and the backlog estimate never undercounts."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest

from pyservices.common.proto import task_pb2, task_pb2_grpc
from pyservices.task_service.adapters.grpc_server import build_server
from pyservices.task_service.adapters.grpc_servicer import TaskServicer
from pyservices.task_service.adapters.postgres import (
    BACKLOG_TTL_SECONDS,
    PostgresTaskRepository,
    chunks_by_size,
)
from pyservices.task_service.domain import NewTask
from tests.integration.task_service.conftest import LIMITS, PAGES

pytestmark = pytest.mark.integration


def new(*messages: str) -> list[NewTask]:
    return [NewTask(uuid.uuid4(), message) for message in messages]


def test_chunks_hold_at_most_the_limit_and_at_least_one_task() -> None:
    tasks = new("aaaa", "bb", "cccccccc", "d")

    chunks = [[t.message for t in chunk] for chunk in chunks_by_size(tasks, 6)]

    assert chunks == [["aaaa", "bb"], ["cccccccc"], ["d"]]


class TestChunkedInsert:
    async def test_a_request_in_many_statements_is_stored_in_order_with_its_events(
        self, pool: asyncpg.Pool
    ) -> None:
        repository = PostgresTaskRepository(pool, 2.0, insert_chunk_bytes=10)
        tasks = new(*(f"message {n}" for n in range(25)))

        stored = await repository.add_tasks(tasks)

        assert [t.id for t in stored] == [t.id for t in tasks]
        rows = await pool.fetch("SELECT task_id FROM outbox ORDER BY id")
        assert [row["task_id"] for row in rows] == [t.id for t in tasks]
        listed = await pool.fetch("SELECT id FROM tasks ORDER BY seq")
        assert [row["id"] for row in listed] == [t.id for t in tasks]

    async def test_a_failure_in_a_later_statement_stores_nothing(self, pool: asyncpg.Pool) -> None:
        repository = PostgresTaskRepository(pool, 2.0, insert_chunk_bytes=10)
        tasks = new(*(f"message {n}" for n in range(5)))
        clash = NewTask(tasks[0].id, "the same id again, in a later statement")

        with pytest.raises(asyncpg.UniqueViolationError):
            await repository.add_tasks([*tasks, clash])

        assert await pool.fetchval("SELECT count(*) FROM tasks") == 0
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 0


class TestBacklog:
    async def test_the_estimate_is_never_below_the_rows_waiting(
        self, repository: PostgresTaskRepository, pool: asyncpg.Pool
    ) -> None:
        assert await repository.backlog() == 0
        await repository.add_tasks(new(*(f"m{n}" for n in range(10))))
        await pool.execute("DELETE FROM outbox WHERE id IN (SELECT id FROM outbox LIMIT 3)")
        # The TTL: a moment-old answer first, then a fresh one.
        assert await repository.backlog() == 0
        repository._backlog = (0, -BACKLOG_TTL_SECONDS)

        waiting = await pool.fetchval("SELECT count(*) FROM outbox")
        assert await repository.backlog() >= waiting == 7


class TestRefusalOverTheBacklog:
    async def test_send_task_is_a_retryable_unavailable_naming_the_backlog(
        self, repository: PostgresTaskRepository
    ) -> None:
        servicer = TaskServicer(repository, LIMITS, PAGES, max_backlog=2)
        server = build_server(servicer, 64 * 1024 * 1024)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = task_pb2_grpc.TaskServiceStub(channel)  # type: ignore[no-untyped-call]
                await stub.ReceiveTaskToProcess(chunks("a", "b", "c"), timeout=10)
                repository._backlog = (0, -BACKLOG_TTL_SECONDS)  # read the backlog anew

                with pytest.raises(grpc.aio.AioRpcError) as caught:
                    await stub.ReceiveTaskToProcess(chunks("d"), timeout=10)
        finally:
            await server.stop(grace=None)

        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "over the limit of 2" in (caught.value.details() or "")
        assert dict(caught.value.trailing_metadata() or ())["binconv-unavailable"] == "backlog"


async def chunks(*texts: str, omit: bool = False) -> AsyncIterator[task_pb2.TaskMessages]:
    yield task_pb2.TaskMessages(messages=texts, omit_messages_in_reply=omit)


class TestSendTaskReply:
    async def test_the_messages_come_back_unless_the_caller_asks_to_leave_them_out(
        self, repository: PostgresTaskRepository
    ) -> None:
        server = build_server(TaskServicer(repository, LIMITS, PAGES), 64 * 1024 * 1024)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = task_pb2_grpc.TaskServiceStub(channel)  # type: ignore[no-untyped-call]
                old = await stub.ReceiveTaskToProcess(chunks("a", "b"), timeout=10)
                new = await stub.ReceiveTaskToProcess(chunks("c", "d", omit=True), timeout=10)
        finally:
            await server.stop(grace=None)

        assert [task.message for task in old.tasks] == ["a", "b"]  # as for callers before
        assert [task.message for task in new.tasks] == ["", ""]
        assert all(task.id for task in new.tasks)
