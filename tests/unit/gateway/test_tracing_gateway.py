"""The gateway's spans (docs/tracing.md): the request's (FastAPI instrumentation, in
the caller's trace only with TRACING_FOLLOW_CALLERS), and in it `sendTask` around the
use case, with the request's message count and bytes."""

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


CALLER_SPAN = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"  # sampled


async def _send_as_a_caller_with_a_trace_context() -> int:
    app = create_app(FakeTaskService(), {}, max_body_bytes=4096)
    tracing.instrument_fastapi(app)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as http:
        sent = await http.post(
            "/query",
            json={"query": send_task_mutation("id"), "variables": {"m": ["a"]}},
            headers={"traceparent": CALLER_SPAN},
        )
        await http.get("/health")
    return sent.status_code


async def test_the_request_span_holds_send_task_and_health_is_not_traced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with tracing_on(monkeypatch, "binconv-gateway", follow_callers=True) as exporter:
        status = await _send_as_a_caller_with_a_trace_context()
        spans = exporter.get_finished_spans()
    assert status == 200
    request, send = one(spans, "POST /query"), one(spans, "sendTask")
    assert parent_id(request) == 0xB7AD6B7169203331
    assert is_child(send, request)
    assert [span.name for span in spans] == ["sendTask", "POST /query"]


async def test_by_default_a_callers_trace_context_is_not_followed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with tracing_on(monkeypatch, "binconv-gateway", follow_callers=False) as exporter:
        assert await _send_as_a_caller_with_a_trace_context() == 200
        request = one(exporter.get_finished_spans(), "POST /query")
    assert request.parent is None  # the trace starts here
    assert request.context.trace_id != 0x0AF7651916CD43DD8448EB211C80319C


async def test_a_caller_cannot_have_a_sampled_out_request_traced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    environment = {
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0",
    }
    with tracing_on(
        monkeypatch, "binconv-gateway", follow_callers=False, **environment
    ) as exporter:
        assert await _send_as_a_caller_with_a_trace_context() == 200
        assert exporter.get_finished_spans() == ()
