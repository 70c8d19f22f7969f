"""The relay's Prometheus metrics (names are a system-wide contract)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

OUTBOX_PUBLISHED = Counter(
    "binconv_outbox_published_total", "Outbox events confirmed by the broker", ["topic"]
)
OUTBOX_PUBLISH_FAILURES = Counter(
    "binconv_outbox_publish_failures_total", "Publishes the broker did not confirm"
)
OUTBOX_BACKLOG = Gauge("binconv_outbox_backlog", "Rows waiting in the outbox after a drain")
OUTBOX_OLDEST_AGE = Gauge(
    "binconv_outbox_oldest_age_seconds", "Age of the oldest row waiting in the outbox"
)
OUTBOX_BATCH_SECONDS = Histogram(
    "binconv_outbox_batch_seconds",
    "Claim, publish with confirms, and delete of one batch",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CREATED_HELD_BACK = Gauge(
    "binconv_relay_created_held_back",
    "1 while task.created events stay in the outbox because task.process is full",
)
BROKER_BLOCKED = Gauge(
    "binconv_relay_broker_blocked",
    "1 while RabbitMQ blocks the relay's publishes (a memory or disk alarm), else 0",
)
