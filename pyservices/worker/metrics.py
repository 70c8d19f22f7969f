"""The worker's Prometheus metrics (names are a system-wide contract)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

TASKS_PROCESSED = Counter(
    "binconv_worker_tasks_processed_total", "Tasks whose result the task service accepted"
)
DEAD_LETTERED = Counter(
    "binconv_worker_dead_lettered_total", "Deliveries sent to the dead-letter queue", ["reason"]
)
CONVERSION_SECONDS = Histogram(
    "binconv_worker_conversion_seconds",
    "Time to convert one batch of messages",
    buckets=(1e-5, 5e-5, 1e-4, 5e-4, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5),
)
BATCH_SIZE = Histogram(
    "binconv_worker_batch_size",
    "Deliveries taken together into one batch",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
)
HELD_BYTES = Gauge(
    "binconv_worker_held_bytes",
    "Bytes of deliveries not yet settled and results not yet acknowledged, per lane",
    ["lane"],
)
CONSUMER_PAUSED = Gauge(
    "binconv_worker_consumer_paused",
    "1 while a lane's consumption is paused for its byte budget",
    ["lane"],
)
BATCH_SPLITS = Counter(
    "binconv_worker_batch_splits_total",
    "Messages of several tasks delivered again and split into one message per task",
)
BATCH_SPLIT_FAILURES = Counter(
    "binconv_worker_batch_split_failures_total",
    "Publishes of a split task that failed (nacked, returned, channel lost or cancelled)",
)
