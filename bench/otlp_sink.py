"""`python -m bench.otlp_sink --port P --report FILE`: an OTLP/HTTP endpoint that only
counts what it is sent (export requests, bytes, spans) and writes the counts to FILE on
SIGTERM. The tracing benchmark exports to it so that the figures are the services' own
cost of tracing, not a trace backend's (which in production runs elsewhere)."""

from __future__ import annotations

import argparse
import json
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


class Counts:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = self.bytes = self.spans = 0

    def add(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        spans = sum(
            len(scope.spans)
            for resource in request.resource_spans
            for scope in resource.scope_spans
        )
        with self.lock:
            self.requests += 1
            self.bytes += len(body)
            self.spans += spans


def serve(port: int, report: Path) -> None:
    counts = Counts()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            counts.add(body)
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever()
    report.write_text(
        json.dumps({"requests": counts.requests, "bytes": counts.bytes, "spans": counts.spans})
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.otlp_sink")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--report", type=Path, required=True)
    args = parser.parse_args()
    serve(args.port, args.report)


if __name__ == "__main__":
    main()
