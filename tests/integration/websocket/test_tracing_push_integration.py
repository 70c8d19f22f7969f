"""The WebSocket service's hop on real RabbitMQ (docs/tracing.md): the consumer makes
the message's `traceparent` current while the handler runs, so the push span is the
child of the relay's publish span; a message without one is pushed untraced (its trace
was sampled out where it began)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import aio_pika
import pytest

from pyservices.common.events import TaskProcessed
from pyservices.common.topology import declare_processed_exchange
from pyservices.websocket.adapters.rabbitmq import ProcessedEventsConsumer
from pyservices.websocket.domain import ClientRegistry
from pyservices.websocket.usecases import push_processed_task
from tests.unit.common.traced import attr, named, parent_id, tracing_on
from tests.unit.websocket.websocket_fakes import FakeClient

pytestmark = pytest.mark.integration

RELAY_SPAN = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
NOW = datetime(2026, 11, 26, tzinfo=UTC)


async def test_a_push_continues_the_trace_its_message_carries(
    monkeypatch: pytest.MonkeyPatch, rabbitmq_url: str
) -> None:
    registry = ClientRegistry()
    client = FakeClient()
    registry.add(client)
    pushed: asyncio.Queue[bytes] = asyncio.Queue()

    def handle(body: bytes) -> None:
        push_processed_task(body, registry)
        pushed.put_nowait(body)

    messages: list[tuple[str, dict[str, Any]]] = [("t1", {"traceparent": RELAY_SPAN}), ("t2", {})]
    with tracing_on(monkeypatch, "binconv-websocket") as exporter:
        events = ProcessedEventsConsumer(
            rabbitmq_url,
            handle,
            prefetch=16,
            queue_max_length=1000,
            queue_max_bytes=1 << 24,
        )
        await events.start()
        try:
            async with await aio_pika.connect(rabbitmq_url) as connection:
                exchange = await declare_processed_exchange(await connection.channel())
                for task_id, headers in messages:
                    body = TaskProcessed(task_id, "01000001", NOW, NOW).to_json()
                    await exchange.publish(aio_pika.Message(body, headers=headers), "")
            for _ in messages:
                await asyncio.wait_for(pushed.get(), 10)
        finally:
            await events.stop()
        pushes = {
            attr(s, "binconv.task.id"): s
            for s in named(exporter.get_finished_spans(), "task.processed push")
        }
    assert parent_id(pushes["t1"]) == 0xB7AD6B7169203331
    assert set(pushes) == {"t1"}
    assert attr(pushes["t1"], "binconv.subscribers") == 1
    assert len(client.frames) == 2
