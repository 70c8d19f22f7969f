"""The gRPC servicer through a real grpc.aio channel, backed by the real database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable
from typing import Any

import asyncpg
import grpc
import pytest
from prometheus_client import REGISTRY

from devstack.infra import free_port
from pyservices.common.proto import task_pb2, task_pb2_grpc
from pyservices.task_service.adapters.postgres import PostgresTaskRepository, create_pool
from tests.integration.task_service.conftest import LIMITS, serve

pytestmark = pytest.mark.integration

A, HI = "01000001", "0110100001101001"
Ack = task_pb2.ProcessedTaskAck


async def messages(*texts: str) -> AsyncIterator[task_pb2.TaskMessages]:
    # Chunks of two: the server must join the messages of several stream messages.
    for start in range(0, len(texts), 2):
        yield task_pb2.TaskMessages(messages=texts[start : start + 2])


async def send(stub: Any, *texts: str) -> list[task_pb2.Task]:
    reply = await stub.ReceiveTaskToProcess(messages(*texts), timeout=10)
    return list(reply.tasks)


async def results(
    pairs: Iterable[tuple[str, str]],
) -> AsyncIterator[task_pb2.ProcessedTaskBatch]:
    yield task_pb2.ProcessedTaskBatch(
        tasks=[task_pb2.ProcessedTask(id=task_id, binary_code=code) for task_id, code in pairs]
    )


async def record(stub: Any, pairs: Iterable[tuple[str, str]]) -> list[Ack]:
    call = stub.SendProcessedTask(results(list(pairs)), timeout=10)
    return [ack async for batch in call for ack in batch.acks]


async def refused(call: Any, code: grpc.StatusCode) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == code, caught.value.details()
    return str(caught.value.details())


def counted(method: str, code: str) -> float:
    labels = {"method": method, "code": code}
    return REGISTRY.get_sample_value("binconv_grpc_requests_total", labels) or 0.0


class TestHappyPath:
    async def test_a_task_goes_from_received_to_processed(self, stub: Any) -> None:
        sent = ["hi", "  spaced  ", "é🦀"]
        tasks = await send(stub, *sent)
        assert len(tasks) == len(sent)  # the reply leaves the messages out (the caller has them)
        assert all(uuid.UUID(t.id) and not t.processed and t.binary_code == "" for t in tasks)
        assert tasks[0].created_at.ToDatetime() == tasks[0].updated_at.ToDatetime()

        acks = await record(stub, [(tasks[0].id, HI)])
        assert [(a.id, a.status) for a in acks] == [(tasks[0].id, Ack.ACCEPTED)]

        done = await stub.GetTaskByID(task_pb2.GetTaskByIDRequest(id=tasks[0].id), timeout=10)
        assert (done.message, done.binary_code, done.processed) == ("hi", HI, True)
        assert done.updated_at.ToDatetime() > done.created_at.ToDatetime()

    async def test_lists_newest_first_with_the_default_page(self, stub: Any) -> None:
        for text in ["1", "2", "3", "4"]:
            await send(stub, text)
        page = await stub.GetTasks(task_pb2.GetTasksRequest(), timeout=10)
        assert [t.message for t in page.tasks] == ["4", "3", "2"]
        rest = await stub.GetTasks(task_pb2.GetTasksRequest(limit=10, offset=3), timeout=10)
        assert [t.message for t in rest.tasks] == ["1"]

    async def test_acks_every_result_of_a_long_stream_in_order(self, stub: Any) -> None:
        tasks = await send(stub, "a", "b", "c", "d", "e")
        unknown = str(uuid.uuid4())
        pairs = [(t.id, A) for t in tasks] + [(unknown, A), ("bad", A)] + [(tasks[0].id, A)]
        acks = await record(stub, pairs * 20)
        assert [a.id for a in acks] == [task_id for task_id, _ in pairs * 20]
        statuses = {a.id: a.status for a in acks}
        assert statuses[unknown] == Ack.NOT_FOUND
        assert statuses["bad"] == Ack.INVALID
        assert all(statuses[t.id] == Ack.ACCEPTED for t in tasks)

    async def test_a_repeated_result_is_accepted_and_emits_no_second_event(
        self, stub: Any, pool: asyncpg.Pool
    ) -> None:
        [task] = await send(stub, "A")
        first = await record(stub, [(task.id, A)])
        again = await record(stub, [(task.id, A)])
        assert first[0].status == again[0].status == Ack.ACCEPTED
        count = "SELECT count(*) FROM outbox WHERE topic = 'task.processed'"
        assert await pool.fetchval(count) == 1

    async def test_answers_each_result_as_soon_as_it_is_recorded(self, stub: Any) -> None:
        tasks = await send(stub, "a", "b")
        outgoing: asyncio.Queue[task_pb2.ProcessedTaskBatch | None] = asyncio.Queue()

        async def requests() -> AsyncIterator[task_pb2.ProcessedTaskBatch]:
            while (item := await outgoing.get()) is not None:
                yield item

        call = stub.SendProcessedTask(requests(), timeout=10)
        for task in tasks:
            outgoing.put_nowait(
                task_pb2.ProcessedTaskBatch(
                    tasks=[task_pb2.ProcessedTask(id=task.id, binary_code=A)]
                )
            )
            answer = await asyncio.wait_for(call.read(), 5)
            assert [(ack.id, ack.status) for ack in answer.acks] == [(task.id, Ack.ACCEPTED)]
        outgoing.put_nowait(None)
        assert await asyncio.wait_for(call.read(), 5) == grpc.aio.EOF


class TestRefusals:
    @pytest.mark.parametrize(
        ("texts", "reason"),
        [
            ((), "at least one message is required"),
            (("ok", " \n"), "messages[1]: message is empty or only whitespace"),
            (("x",) * (LIMITS.max_messages + 1), "too many messages"),
            (("ok", "é" * 33), "messages[1]: message is 66 bytes of UTF-8"),
            (("a\x00b",), "messages[0]: message contains the NUL character"),
        ],
    )
    async def test_a_bad_request_is_invalid_and_stores_nothing(
        self, stub: Any, pool: asyncpg.Pool, texts: tuple[str, ...], reason: str
    ) -> None:
        details = await refused(send(stub, *texts), grpc.StatusCode.INVALID_ARGUMENT)
        assert reason in details
        assert await pool.fetchval("SELECT count(*) FROM tasks") == 0
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 0

    async def test_a_very_long_stream_is_refused_without_reading_it_all(self, stub: Any) -> None:
        async def endless() -> AsyncIterator[task_pb2.TaskMessages]:
            while True:
                yield task_pb2.TaskMessages(messages=["x"] * 100)

        call = stub.ReceiveTaskToProcess(endless(), timeout=10)
        assert "too many messages" in await refused(call, grpc.StatusCode.INVALID_ARGUMENT)

    @pytest.mark.parametrize(
        ("limit", "offset", "reason"),
        [(-1, 0, "limit must not be negative"), (11, 0, "at most 10"), (1, -5, "offset")],
    )
    async def test_an_out_of_range_page_is_invalid(
        self, stub: Any, limit: int, offset: int, reason: str
    ) -> None:
        call = stub.GetTasks(task_pb2.GetTasksRequest(limit=limit, offset=offset), timeout=10)
        assert reason in await refused(call, grpc.StatusCode.INVALID_ARGUMENT)

    async def test_get_task_by_id_refuses_a_malformed_id(self, stub: Any) -> None:
        call = stub.GetTaskByID(task_pb2.GetTaskByIDRequest(id="42"), timeout=10)
        assert "not a UUID" in await refused(call, grpc.StatusCode.INVALID_ARGUMENT)

    async def test_get_task_by_id_of_an_unknown_task_is_not_found(self, stub: Any) -> None:
        before = counted("GetTaskByID", "NOT_FOUND")
        call = stub.GetTaskByID(task_pb2.GetTaskByIDRequest(id=str(uuid.uuid4())), timeout=10)
        await refused(call, grpc.StatusCode.NOT_FOUND)
        assert counted("GetTaskByID", "NOT_FOUND") == before + 1

    async def test_a_message_over_the_grpc_limit_is_resource_exhausted(
        self, repository: PostgresTaskRepository
    ) -> None:
        server, port = await serve(repository, max_message_bytes=1024)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                small = task_pb2_grpc.TaskServiceStub(channel)  # type: ignore[no-untyped-call]
                await refused(send(small, "x" * 2048), grpc.StatusCode.RESOURCE_EXHAUSTED)
        finally:
            await server.stop(grace=None)


class TestOutage:
    async def test_a_database_outage_is_a_quick_retryable_unavailable(self) -> None:
        dead = f"postgresql://nobody@127.0.0.1:{free_port()}/none"
        pool = await create_pool(dead, max_size=2, command_timeout=1, connect_timeout=1)
        server, port = await serve(PostgresTaskRepository(pool, acquire_timeout=1))
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = task_pb2_grpc.TaskServiceStub(channel)  # type: ignore[no-untyped-call]
                for call in (
                    send(stub, "a"),
                    stub.GetTasks(task_pb2.GetTasksRequest(), timeout=10),
                    record(stub, [(str(uuid.uuid4()), A)]),
                ):
                    with pytest.raises(grpc.aio.AioRpcError) as caught:
                        await call
                    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
                    assert caught.value.details() == "database unavailable, retry"
                    trailing = dict(caught.value.trailing_metadata() or ())
                    assert trailing["binconv-unavailable"] == "database"
        finally:
            await server.stop(grace=None)
            await pool.close()


class TestMetrics:
    async def test_counts_calls_by_method_and_code_streams_included(self, stub: Any) -> None:
        before_ok = counted("ReceiveTaskToProcess", "OK")
        before_invalid = counted("ReceiveTaskToProcess", "INVALID_ARGUMENT")
        before_stream = counted("SendProcessedTask", "OK")
        [task] = await send(stub, "A")
        await refused(send(stub, ""), grpc.StatusCode.INVALID_ARGUMENT)
        await record(stub, [(task.id, A)])
        assert counted("ReceiveTaskToProcess", "OK") == before_ok + 1
        assert counted("ReceiveTaskToProcess", "INVALID_ARGUMENT") == before_invalid + 1
        assert counted("SendProcessedTask", "OK") == before_stream + 1
