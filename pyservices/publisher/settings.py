"""The relay's configuration, from environment variables of the same (upper-case) names."""

from __future__ import annotations

from pydantic import Field

from pyservices.common.settings import BrokerSettings, CommonSettings, DatabaseSettings
from pyservices.common.topology import LARGE_TASK_BYTES
from pyservices.publisher.domain import ClaimLimits


class PublisherSettings(CommonSettings, DatabaseSettings, BrokerSettings):
    metrics_port: int = 9102
    outbox_batch_size: int = Field(default=500, ge=1)
    # Payload bytes per batch (the first row goes out whatever its size). A batch is all
    # in memory and in flight at once; 8 MiB is 13 of the largest events (a processed
    # event of a 64 KiB message is about 600 KiB), a small part of the pod's 256 MiB even
    # with the copies asyncpg and aio-pika make, and far above 500 ordinary events, so
    # it limits only batches of big events, where each publish is already bandwidth-bound.
    outbox_batch_bytes: int = Field(default=8 * 1024 * 1024, ge=1)
    # A task.created event over this many bytes goes to task.process.large, consumed
    # beside task.process, so short tasks never queue behind large ones.
    large_task_bytes: int = Field(default=LARGE_TASK_BYTES, ge=1)
    # Short, untraced tasks of one claim bound for task.process travel up to this many to
    # a message (`task.created.batch`): one message, confirm and delivery instead of one
    # per task. 1 sends one task per message, the only form workers before it understood
    # (set it while such workers still run).
    tasks_per_message: int = Field(default=100, ge=1)
    # While the work queues hold more tasks than this, task.created events stay in the
    # outbox (task.processed ones still go): the workers are behind, and the outbox
    # backlog then makes the task service refuse new work (MAX_BACKLOG_EVENTS) instead of
    # the broker absorbing it without bound. 10,000 tasks of 64 KiB are 640 MiB. 0: none.
    max_queued_tasks: int = Field(default=10_000, ge=0)
    # Only a safety net: the relay wakes on NOTIFY, this bounds a missed notification.
    outbox_fallback_poll_seconds: float = 5.0
    # A broker that does not confirm within this time counts as a failed publish.
    publish_timeout_seconds: float = 10.0
    shutdown_grace_seconds: float = 10.0

    @property
    def claim_limits(self) -> ClaimLimits:
        return ClaimLimits(rows=self.outbox_batch_size, bytes=self.outbox_batch_bytes)
