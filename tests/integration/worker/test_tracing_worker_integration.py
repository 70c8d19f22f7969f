"""The worker's hop on real RabbitMQ and gRPC (docs/tracing.md): it continues each
task's trace from the message's `traceparent` header and streams the receive span's
context back with the result (`ProcessedTask.trace_context`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aio_pika
import pytest

from devstack.infra import free_port
from pyservices.common.events import TaskCreated
from pyservices.common.proto import task_pb2
from pyservices.common.topology import PROCESS_QUEUE, declare_process_queue
from pyservices.worker.main import run
from pyservices.worker.settings import WorkerSettings
from tests.support.fake_task_server import FakeTaskServicer, serve
from tests.support.health import until_healthy
from tests.unit.common.traced import attr, named, parent_id, traceparent_of, tracing_on

pytestmark = pytest.mark.integration

PUBLISH_SPAN = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class ContextRecordingServicer(FakeTaskServicer):
    """Also keeps the trace context each result came with."""

    def __init__(self, known: set[str]) -> None:
        super().__init__(known)
        self.trace_contexts: dict[str, str] = {}

    async def SendProcessedTask(
        self, request_iterator: AsyncIterable[task_pb2.ProcessedTaskBatch], context: Any
    ) -> AsyncIterator[task_pb2.ProcessedTaskAckBatch]:
        async def seen() -> AsyncIterator[task_pb2.ProcessedTaskBatch]:
            async for batch in request_iterator:
                for item in batch.tasks:
                    self.trace_contexts[item.id] = item.trace_context
                yield batch

        async for answer in super().SendProcessedTask(seen(), context):
            yield answer


async def test_the_worker_continues_the_trace_and_streams_its_context_back(
    monkeypatch: pytest.MonkeyPatch, rabbitmq_url: str
) -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    service = ContextRecordingServicer(set(ids))
    server, port = await serve(service)
    stop = asyncio.Event()
    try:
        with tracing_on(monkeypatch, "binconv-worker", ("grpc_client",)) as exporter:
            async with await aio_pika.connect(rabbitmq_url) as connection:
                channel = await connection.channel()
                await declare_process_queue(channel)
                for task_id in ids:
                    body = TaskCreated(task_id, "hi", datetime.now(UTC)).to_json()
                    await channel.default_exchange.publish(
                        aio_pika.Message(body, headers={"traceparent": PUBLISH_SPAN}),
                        routing_key=PROCESS_QUEUE,
                    )
            metrics_port = free_port()
            settings = WorkerSettings(
                rabbitmq_url=rabbitmq_url,
                task_service_addr=f"127.0.0.1:{port}",
                metrics_port=metrics_port,
            )
            worker = asyncio.create_task(run(settings, stop))
            await until_healthy(f"http://127.0.0.1:{metrics_port}/health", service=worker)
            await asyncio.wait_for(service.all_recorded.wait(), 10)
            stop.set()
            await asyncio.wait_for(worker, 15)
            spans = exporter.get_finished_spans()
    finally:
        stop.set()
        await server.stop(None)

    receives = {attr(s, "binconv.task.id"): s for s in named(spans, "task.process receive")}
    assert set(receives) == set(ids)
    for task_id, span in receives.items():
        assert parent_id(span) == 0xB7AD6B7169203331
        assert attr(span, "messaging.rabbitmq.redelivered") is False
        assert service.trace_contexts[task_id] == traceparent_of(span)
    assert {attr(s, "binconv.task.id") for s in named(spans, "convert")} == set(ids)
    # The result stream lives as long as the worker: no span of its own.
    assert not [s for s in spans if "SendProcessedTask" in s.name]
