"""The gateway's span (docs/tracing.md): `sendTask` around the use case, with the
request's message count and bytes; the gRPC call to the task service is its child."""

from __future__ import annotations

import pytest

from pyservices.gateway.usecases import send_tasks
from tests.unit.common.traced import attr, one, tracing_on
from tests.unit.gateway.gateway_fakes import FakeTaskService


async def test_send_task_is_one_span_with_the_requests_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with tracing_on(monkeypatch, "binconv-gateway") as exporter:
        await send_tasks(["A", "é", "hello"], FakeTaskService())
        span = one(exporter.get_finished_spans(), "sendTask")
    assert attr(span, "binconv.messages") == 3
    assert attr(span, "binconv.bytes") == 1 + 2 + 5
