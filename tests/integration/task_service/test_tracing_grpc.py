"""Tracing across the gateway's gRPC call into the task service, on real gRPC and
PostgreSQL (docs/tracing.md): the gRPC instrumentations carry the context from the
gateway's `sendTask` to the task service's server span, `tasks.insert` is its child,
the queries are inside it, and each outbox row stores `tasks.insert`'s context.
Results: each is recorded in a `result.record` span under the worker's context, and
its outbox row stores that span's context."""

from __future__ import annotations

import asyncpg
import pytest

from pyservices.common.proto import task_pb2, task_pb2_grpc
from pyservices.gateway.adapters.grpc_client import GrpcTaskService, open_channel
from pyservices.gateway.usecases import send_tasks
from pyservices.task_service.adapters.postgres import PostgresTaskRepository
from tests.integration.task_service.conftest import serve
from tests.unit.common.traced import (
    attr,
    is_child,
    named,
    one,
    parent_id,
    traceparent_of,
    tracing_on,
)

pytestmark = pytest.mark.integration

# The instrumentation names it with a leading slash.
METHOD = "/binconv.task.v1.TaskService/ReceiveTaskToProcess"
WORKER_SPAN = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def outbox(pool: asyncpg.Pool) -> list[tuple[str, str, str | None]]:
    rows = await pool.fetch("SELECT topic, task_id::text, trace_context FROM outbox ORDER BY id")
    return [(row["topic"], row["task_id"], row["trace_context"]) for row in rows]


async def test_a_send_task_is_one_trace_into_the_outbox(
    monkeypatch: pytest.MonkeyPatch, repository: PostgresTaskRepository, pool: asyncpg.Pool
) -> None:
    instrument = ("grpc_server", "grpc_client", "asyncpg")
    with tracing_on(monkeypatch, "binconv-test", instrument) as exporter:
        server, port = await serve(repository)
        channel = open_channel(f"127.0.0.1:{port}", 64 * 1024 * 1024)
        try:
            stored = await send_tasks(["A", "hi", "é"], GrpcTaskService(channel, 5))
        finally:
            await channel.close()
            await server.stop(None)
        spans = exporter.get_finished_spans()

    send, insert = one(spans, "sendTask"), one(spans, "tasks.insert")
    client = next(s for s in named(spans, METHOD) if s.kind.name == "CLIENT")
    server_span = next(s for s in named(spans, METHOD) if s.kind.name == "SERVER")
    assert is_child(client, send)
    assert is_child(server_span, client)
    assert is_child(insert, server_span)
    assert sorted(attr(insert, "binconv.task.ids")) == sorted(task.id for task in stored)
    queries = [
        s for s in spans if s.instrumentation_scope and "asyncpg" in s.instrumentation_scope.name
    ]
    assert queries, "the insert's statements are traced"
    assert all(s.context and s.context.trace_id == insert.context.trace_id for s in queries)
    assert {context for _, _, context in await outbox(pool)} == {traceparent_of(insert)}


async def test_each_result_is_recorded_under_the_workers_context(
    monkeypatch: pytest.MonkeyPatch, repository: PostgresTaskRepository, pool: asyncpg.Pool
) -> None:
    server, port = await serve(repository)
    channel = open_channel(f"127.0.0.1:{port}", 64 * 1024 * 1024)
    stub = task_pb2_grpc.TaskServiceStub(channel)  # type: ignore[no-untyped-call]
    try:
        [task] = await send_tasks(["A"], GrpcTaskService(channel, 5))
        with tracing_on(monkeypatch, "binconv-test") as exporter:
            call = stub.SendProcessedTask()
            batch = task_pb2.ProcessedTaskBatch(
                tasks=[
                    task_pb2.ProcessedTask(
                        id=task.id, binary_code="01000001", trace_context=WORKER_SPAN
                    )
                ]
            )
            await call.write(batch)
            answer = await call.read()
            await call.done_writing()
            record = one(exporter.get_finished_spans(), "result.record")
    finally:
        await channel.close()
        await server.stop(None)

    assert [ack.status for ack in answer.acks] == [task_pb2.ProcessedTaskAck.ACCEPTED]
    assert parent_id(record) == 0xB7AD6B7169203331
    assert attr(record, "binconv.result") == "accepted"
    assert await outbox(pool) == [
        ("task.created", task.id, None),  # sent while tracing was off
        ("task.processed", task.id, traceparent_of(record)),
    ]
