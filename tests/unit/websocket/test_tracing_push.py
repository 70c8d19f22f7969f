"""The WebSocket service's span (docs/tracing.md): `task.processed push`, in the trace
the message carried (made current by the adapter), with the connections it reached."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pyservices.common import tracing
from pyservices.common.events import TaskProcessed
from pyservices.websocket.domain import ClientRegistry
from pyservices.websocket.usecases import push_processed_task
from tests.unit.common.traced import attr, one, parent_id, tracing_on
from tests.unit.websocket.websocket_fakes import FakeClient

RELAY_SPAN = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
CREATED = datetime(2026, 11, 24, 7, 0, 0, tzinfo=UTC)


def test_a_push_is_a_consumer_span_in_the_messages_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = ClientRegistry()
    for _ in range(2):
        registry.add(FakeClient())
    body = TaskProcessed("t1", "01000001", CREATED, CREATED).to_json()
    with tracing_on(monkeypatch, "binconv-websocket") as exporter:
        with tracing.attached(tracing.context_of(RELAY_SPAN)):
            push_processed_task(body, registry)
        span = one(exporter.get_finished_spans(), "task.processed push")
    assert parent_id(span) == 0xB7AD6B7169203331
    assert span.kind is tracing.SpanKind.CONSUMER
    assert attr(span, "binconv.task.id") == "t1"
    assert attr(span, "binconv.subscribers") == 2
    assert attr(span, "binconv.bytes") == len(body)
