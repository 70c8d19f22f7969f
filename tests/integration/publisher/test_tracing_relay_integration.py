"""The relay's hop on real PostgreSQL and RabbitMQ (docs/tracing.md): a row stored with
a trace context goes out in a producer span, the child of that context, and its
message carries the span's `traceparent`; a row stored without one goes out as before."""

from __future__ import annotations

import uuid

import aio_pika
import asyncpg
import pytest

from pyservices.common.events import TASK_CREATED
from pyservices.common.topology import PROCESS_QUEUE
from pyservices.common.tracing import PUBLISHED_AT_MS
from pyservices.publisher.adapters.postgres import PostgresOutboxStore
from pyservices.publisher.adapters.rabbitmq import AmqpEventPublisher
from pyservices.publisher.domain import ClaimLimits
from pyservices.publisher.usecases import relay_batch
from tests.unit.common.traced import attr, one, parent_id, traceparent_of, tracing_on

pytestmark = pytest.mark.integration

INSERT_SPAN = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def test_a_traced_row_is_published_with_its_publish_spans_traceparent(
    monkeypatch: pytest.MonkeyPatch, database_url: str, rabbitmq_url: str
) -> None:
    traced, plain = str(uuid.uuid4()), str(uuid.uuid4())
    async with asyncpg.create_pool(database_url, min_size=1, max_size=2) as pool:
        await pool.execute(
            "INSERT INTO outbox (topic, task_id, payload, trace_context)"
            " VALUES ($1, $2, '{}', $3), ($1, $4, '{}', NULL)",
            TASK_CREATED,
            uuid.UUID(traced),
            INSERT_SPAN,
            uuid.UUID(plain),
        )
        publisher = await AmqpEventPublisher.connect(rabbitmq_url)
        try:
            with tracing_on(monkeypatch, "binconv-relay", ("asyncpg",)) as exporter:
                report = await relay_batch(
                    PostgresOutboxStore(pool), publisher, ClaimLimits(rows=10, bytes=1 << 20)
                )
                spans = exporter.get_finished_spans()
        finally:
            await publisher.close()
    assert report.published == 2

    span = one(spans, "outbox publish task.created")
    assert len(spans) == 1  # nothing for the untraced row, no query outside a trace
    assert parent_id(span) == 0xB7AD6B7169203331
    assert attr(span, "binconv.task.id") == traced
    assert attr(span, "binconv.outbox.wait_ms") >= 0
    assert attr(span, "messaging.destination.name") == PROCESS_QUEUE
    headers = {}
    async with await aio_pika.connect(rabbitmq_url) as connection:
        queue = await (await connection.channel()).declare_queue(PROCESS_QUEUE, passive=True)
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            headers[str(message.headers["task_id"])] = message.headers
    assert headers[traced]["traceparent"] == traceparent_of(span)
    assert isinstance(headers[traced][PUBLISHED_AT_MS], int)
    assert "traceparent" not in headers[plain]
    assert PUBLISHED_AT_MS not in headers[plain]
