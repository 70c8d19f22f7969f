"""A small OTLP/HTTP trace receiver and a waterfall viewer, for the dev stack and tests.

No trace backend image can be pulled on the machines this project is built on, so this
stands in for Jaeger's all-in-one locally: the services export to
`POST /v1/traces` (HTTP/protobuf, as `OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318`
makes them), every span is kept in memory and appended to a JSON-lines file (one flat
object per span), and a second port serves the newest traces and a waterfall of each.

    python -m devstack traces        # OTLP on 127.0.0.1:4318, viewer on 127.0.0.1:16686

Tests start one on free ports (`TraceReceiver().start()`), point the services at
`otlp_endpoint`, and read `spans()` or `wait_for(...)`. Stdlib HTTP servers on threads,
so a test's event loop never has to run them.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from devstack.infra import REPO

SPANS_FILE = REPO / "artifacts" / "traces" / "spans.jsonl"
OTLP_PORT = 4318  # the OTLP/HTTP port every collector uses
VIEWER_PORT = 16686  # Jaeger UI's
# Memory stays bounded however long the receiver runs; the file keeps everything.
KEEP_SPANS = 200_000

T = TypeVar("T")

_KINDS = {
    ProtoSpan.SPAN_KIND_INTERNAL: "internal",
    ProtoSpan.SPAN_KIND_SERVER: "server",
    ProtoSpan.SPAN_KIND_CLIENT: "client",
    ProtoSpan.SPAN_KIND_PRODUCER: "producer",
    ProtoSpan.SPAN_KIND_CONSUMER: "consumer",
}
_STATUS = {Status.STATUS_CODE_OK: "ok", Status.STATUS_CODE_ERROR: "error"}


@dataclass(frozen=True)
class Span:
    """One received span, flat: ids in hex, times in Unix nanoseconds."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    service: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6

    def as_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> Span:
        return cls(**json.loads(line))


def spans_of(request: ExportTraceServiceRequest) -> list[Span]:
    """The spans of one export request, each with its resource's service.name."""
    found = []
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        service = str(resource.get("service.name", "unknown_service"))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                found.append(
                    Span(
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex() or None,
                        name=span.name,
                        kind=_KINDS.get(span.kind, "unspecified"),
                        service=service,
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        attributes=_attributes(span.attributes),
                        status={
                            "code": _STATUS.get(span.status.code, "unset"),
                            "message": span.status.message,
                        },
                        events=[
                            {
                                "name": event.name,
                                "time_ns": event.time_unix_nano,
                                "attributes": _attributes(event.attributes),
                            }
                            for event in span.events
                        ],
                    )
                )
    return found


def _attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return None if kind is None else getattr(value, kind)


class SpanStore:
    """The spans received so far, in arrival order; appended to `file` when one is given."""

    def __init__(self, file: Path | None = None) -> None:
        self.file = file
        self._spans: deque[Span] = deque(maxlen=KEEP_SPANS)
        self._changed = threading.Condition()

    def load(self) -> None:
        """The spans an earlier run left in the file, so the viewer shows them too."""
        if self.file is not None and self.file.exists():
            with self.file.open(encoding="utf-8") as lines:
                self._spans.extend(Span.from_json(line) for line in lines if line.strip())

    def add(self, spans: list[Span]) -> None:
        if self.file is not None and spans:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            with self.file.open("a", encoding="utf-8") as out:
                out.writelines(span.as_json() + "\n" for span in spans)
        with self._changed:
            self._spans.extend(spans)
            self._changed.notify_all()

    def spans(self) -> list[Span]:
        with self._changed:
            return list(self._spans)

    def wait_for(self, predicate: Callable[[list[Span]], T | None], timeout: float) -> T:
        """The first truthy `predicate(spans)` (None or an empty result: not yet), re-checked
        as spans arrive."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not (found := predicate(list(self._spans))):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"no match after {timeout} s among {len(self._spans)} spans: "
                        f"{sorted({(s.service, s.name) for s in self._spans})}"
                    )
                self._changed.wait(left)
            return found


class _OtlpHandler(BaseHTTPRequestHandler):
    server: _OtlpServer

    def do_POST(self) -> None:
        if self.path.rstrip("/") != "/v1/traces":
            return self._answer(404, b"only /v1/traces", "text/plain")
        if not self.headers.get("content-type", "").startswith("application/x-protobuf"):
            return self._answer(415, b"application/x-protobuf only", "text/plain")
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        try:
            request = ExportTraceServiceRequest.FromString(body)
        except Exception:  # a malformed message is the sender's problem, not ours
            return self._answer(400, b"not an ExportTraceServiceRequest", "text/plain")
        self.server.store.add(spans_of(request))
        reply = ExportTraceServiceResponse().SerializeToString()
        self._answer(200, reply, "application/x-protobuf")

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per export would drown the stack's own output


class _OtlpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, store: SpanStore) -> None:
        super().__init__(("127.0.0.1", port), _OtlpHandler)
        self.store = store


class TraceReceiver:
    """The OTLP receiver and the viewer, each on its own thread; port 0 means a free one."""

    def __init__(self, otlp_port: int = 0, viewer_port: int = 0, file: Path | None = None) -> None:
        from devstack.trace_view import ViewerServer  # the HTML half, only when running

        self.store = SpanStore(file)
        self._otlp = _OtlpServer(otlp_port, self.store)
        self._viewer = ViewerServer(viewer_port, self.store)

    @property
    def otlp_endpoint(self) -> str:
        """For OTEL_EXPORTER_OTLP_ENDPOINT (the exporter appends /v1/traces)."""
        return f"http://127.0.0.1:{self._otlp.server_address[1]}"

    @property
    def viewer_url(self) -> str:
        return f"http://127.0.0.1:{self._viewer.server_address[1]}/"

    def start(self) -> TraceReceiver:
        for server in (self._otlp, self._viewer):
            threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        for server in (self._otlp, self._viewer):
            server.shutdown()
            server.server_close()

    def spans(self) -> list[Span]:
        return self.store.spans()

    def wait_for(self, predicate: Callable[[list[Span]], T | None], timeout: float) -> T:
        return self.store.wait_for(predicate, timeout)


@contextlib.contextmanager
def receiving(file: Path | None = None) -> Iterator[TraceReceiver]:
    """A receiver on free ports for the block (tests)."""
    receiver = TraceReceiver(file=file).start()
    try:
        yield receiver
    finally:
        receiver.stop()


def serve(otlp_port: int, viewer_port: int, file: Path) -> None:
    receiver = TraceReceiver(otlp_port, viewer_port, file)
    receiver.store.load()
    receiver.start()
    print(f"OTLP/HTTP receiver  {receiver.otlp_endpoint}  (spans appended to {file})")
    print(f"trace viewer        {receiver.viewer_url}")
    print(f"export to it with   OTEL_EXPORTER_OTLP_ENDPOINT={receiver.otlp_endpoint}")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        receiver.stop()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--otlp-port", type=int, default=OTLP_PORT)
    parser.add_argument("--viewer-port", type=int, default=VIEWER_PORT)
    parser.add_argument("--file", type=Path, default=SPANS_FILE)
