"""The gateway's spans (docs/tracing.md): the request's (FastAPI instrumentation, in
the caller's trace if it sent one), and in it `sendTask` around the use case, with
the request's message count and bytes."""

from __future__ import annotations

import httpx
import pytest

from pyservices.common import tracing
from pyservices.gateway.adapters.http import create_app
from pyservices.gateway.usecases import send_tasks
from tests.support.client import send_task_mutation
from tests.unit.common.traced import attr, is_child, one, parent_id, tracing_on
from tests.unit.gateway.gateway_fakes import FakeTaskService


async def test_send_task_is_one_span_with_the_requests_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with tracing_on(monkeypatch, "binconv-gateway") as exporter:
        await send_tasks(["A", "é", "hello"], FakeTaskService())
        span = one(exporter.get_finished_spans(), "sendTask")
    assert attr(span, "binconv.messages") == 3
    assert attr(span, "binconv.bytes") == 1 + 2 + 5


async def test_the_request_span_holds_send_task_and_health_is_not_traced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caller_span = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with tracing_on(monkeypatch, "binconv-gateway") as exporter:
        app = create_app(FakeTaskService(), {}, max_body_bytes=4096)
        tracing.instrument_fastapi(app)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway"
        ) as http:
            sent = await http.post(
                "/query",
                json={"query": send_task_mutation("id"), "variables": {"m": ["a"]}},
                headers={"traceparent": caller_span},
            )
            await http.get("/health")
        spans = exporter.get_finished_spans()
    assert sent.status_code == 200
    request, send = one(spans, "POST /query"), one(spans, "sendTask")
    assert parent_id(request) == 0xB7AD6B7169203331
    assert is_child(send, request)
    assert [span.name for span in spans] == ["sendTask", "POST /query"]
