"""The dev stack's trace receiver and viewer, fed by the real OTLP/HTTP exporter."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from devstack.__main__ import environment_of, exporting_to
from devstack.stack import SERVICES, Ports
from devstack.trace_view import tree_order
from devstack.traces import Span, SpanStore, TraceReceiver, receiving


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[TraceReceiver]:
    with receiving(tmp_path / "spans.jsonl") as running:
        yield running


def export(
    receiver: TraceReceiver, service: str, compression: Compression = Compression.NoCompression
) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    exporter = OTLPSpanExporter(
        endpoint=f"{receiver.otlp_endpoint}/v1/traces", compression=compression
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def send_a_request(provider: TracerProvider) -> None:
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("POST /query", kind=SpanKind.SERVER) as root:
        root.set_attribute("binconv.messages", 3)
        with tracer.start_as_current_span("sendTask") as child:
            child.set_attributes({"binconv.task.ids": ["a", "b"], "note": "<b>bold</b>"})
            child.add_event("stored", {"rows": 3})
            child.set_status(Status(StatusCode.ERROR, "boom"))
    provider.shutdown()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def post(url: str, body: bytes, content_type: str) -> int:
    request = urllib.request.Request(url, body, {"content-type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_exported_spans_arrive_flat_with_their_service_parent_and_attributes(
    receiver: TraceReceiver,
) -> None:
    send_a_request(export(receiver, "binconv-gateway"))

    spans = receiver.wait_for(lambda spans: spans if len(spans) == 2 else None, timeout=5)
    child, root = spans  # a span is exported when it ends: the child first

    assert root.parent_span_id is None
    assert (root.name, root.kind, root.service) == ("POST /query", "server", "binconv-gateway")
    assert root.attributes == {"binconv.messages": 3}
    assert (child.trace_id, child.parent_span_id) == (root.trace_id, root.span_id)
    assert (child.name, child.kind) == ("sendTask", "internal")
    assert child.attributes == {"binconv.task.ids": ["a", "b"], "note": "<b>bold</b>"}
    assert child.status == {"code": "error", "message": "boom"}
    assert child.events[0]["name"] == "stored"
    assert child.events[0]["attributes"] == {"rows": 3}
    assert len(root.trace_id) == 32 and len(root.span_id) == 16
    assert root.start_ns <= child.start_ns <= child.end_ns <= root.end_ns


def test_each_span_is_appended_to_the_file_as_one_json_object(
    receiver: TraceReceiver, tmp_path: Path
) -> None:
    send_a_request(export(receiver, "binconv-gateway"))
    receiver.wait_for(lambda spans: len(spans) == 2, timeout=5)

    lines = (tmp_path / "spans.jsonl").read_text().splitlines()

    assert [Span.from_json(line) for line in lines] == receiver.spans()
    assert set(json.loads(lines[0])) == {
        "trace_id",
        "span_id",
        "parent_span_id",
        "name",
        "kind",
        "service",
        "start_ns",
        "end_ns",
        "attributes",
        "status",
        "events",
    }


def test_a_store_loads_what_an_earlier_run_left_in_the_file(
    receiver: TraceReceiver, tmp_path: Path
) -> None:
    send_a_request(export(receiver, "binconv-gateway"))
    receiver.wait_for(lambda spans: len(spans) == 2, timeout=5)

    later = SpanStore(tmp_path / "spans.jsonl")
    later.load()

    assert later.spans() == receiver.spans()


def test_gzip_compressed_exports_are_received(receiver: TraceReceiver) -> None:
    send_a_request(export(receiver, "binconv-worker", Compression.Gzip))

    assert receiver.wait_for(lambda spans: len(spans) == 2, timeout=5)


def test_waiting_for_spans_that_never_come_times_out_naming_what_came(
    receiver: TraceReceiver,
) -> None:
    send_a_request(export(receiver, "binconv-gateway"))
    receiver.wait_for(lambda spans: len(spans) == 2, timeout=5)

    with pytest.raises(TimeoutError, match="sendTask"):
        receiver.wait_for(lambda spans: len(spans) > 2, timeout=0.2)


def test_other_paths_encodings_and_broken_bodies_are_refused(receiver: TraceReceiver) -> None:
    traces = f"{receiver.otlp_endpoint}/v1/traces"

    assert post(f"{receiver.otlp_endpoint}/v1/metrics", b"", "application/x-protobuf") == 404
    assert post(traces, b"{}", "application/json") == 415
    assert post(traces, b"\xff\xff\xff", "application/x-protobuf") == 400
    assert post(traces, b"", "application/x-protobuf") == 200  # an empty export
    assert receiver.spans() == []


def test_the_viewer_lists_traces_and_draws_each_one_escaped(receiver: TraceReceiver) -> None:
    send_a_request(export(receiver, "binconv-gateway"))
    spans = receiver.wait_for(lambda spans: spans if len(spans) == 2 else None, timeout=5)
    trace_id = spans[0].trace_id

    status, listing = get(receiver.viewer_url)
    assert status == 200
    assert f"/trace/{trace_id}" in listing
    assert "POST /query" in listing and "binconv-gateway" in listing

    status, page = get(f"{receiver.viewer_url}trace/{trace_id}")
    assert status == 200
    assert page.index("POST /query") < page.index("sendTask")
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "<b>bold" not in page

    status, listed = get(f"{receiver.viewer_url}api/trace/{trace_id}")
    assert status == 200
    assert {span["name"] for span in json.loads(listed)} == {"POST /query", "sendTask"}

    assert get(f"{receiver.viewer_url}trace/{'0' * 32}")[0] == 404


def _span(span_id: str, parent: str | None, start: int) -> Span:
    return Span("t", span_id, parent, span_id, "internal", "svc", start, start + 10)


def test_the_waterfall_puts_children_under_parents_and_orphans_at_the_top() -> None:
    spans = [
        _span("late-child", "root", 5),
        _span("orphan", "never-arrived", 3),
        _span("root", None, 0),
        _span("early-child", "root", 1),
        _span("grandchild", "early-child", 2),
    ]

    assert [(span.span_id, depth) for span, depth in tree_order(spans)] == [
        ("root", 0),
        ("early-child", 1),
        ("grandchild", 2),
        ("late-child", 1),
        ("orphan", 0),
    ]


def test_just_up_passes_the_callers_tracing_settings_to_every_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector.example:4318")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    ports = Ports.free()

    for service in SERVICES:
        env = environment_of(service, ports, "postgresql://db", "amqp://mq", tracing={})
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector.example:4318"
        assert env["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"


def test_up_with_traces_points_every_service_at_its_own_receiver(receiver: TraceReceiver) -> None:
    tracing = exporting_to(receiver)

    for service in SERVICES:
        env = environment_of(service, Ports.free(), "postgresql://db", "amqp://mq", tracing)
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == receiver.otlp_endpoint
        assert int(env["OTEL_BSP_SCHEDULE_DELAY"]) <= 500  # a trace shows at once
