"""The Task Service's Prometheus metrics (names are a system-wide contract)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

GRPC_REQUESTS = Counter(
    "binconv_grpc_requests_total",
    "gRPC calls handled, by method and status code",
    ["method", "code"],
)
GRPC_REQUEST_SECONDS = Histogram(
    "binconv_grpc_request_seconds",
    "Duration of gRPC calls, whole stream for streams",
    ["method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 600),
)
TASKS_CREATED = Counter("binconv_tasks_created_total", "Tasks stored")
TASKS_PROCESSED = Counter(
    "binconv_tasks_processed_total", "Tasks whose result was recorded (repeats excluded)"
)
TASKS_REMOVED = Counter(
    "binconv_tasks_removed_total", "Tasks removed by retention (TASK_RETENTION_DAYS)"
)
