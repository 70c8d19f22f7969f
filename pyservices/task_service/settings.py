"""The Task Service's configuration, from environment variables of the same name."""

from __future__ import annotations

from pydantic import Field

from pyservices.common.settings import CommonSettings, DatabaseSettings
from pyservices.task_service.domain import MessageLimits, PageLimits


class TaskServiceSettings(CommonSettings, DatabaseSettings):
    task_service_port: int = 50051
    metrics_port: int = 9101
    max_messages: int = 1000
    max_message_bytes: int = 65536
    max_page_size: int = 1000
    default_page_size: int = 50
    # Bytes of messages and binary codes one page (GetTasks) may carry; a page over it
    # is refused with the largest limit that fits, never cut short. 16 MiB holds the
    # default page of 50 tasks while their messages average under ~36 KiB (a code is
    # 8x its message), the web page's 21 rows even of the largest tasks (64 KiB +
    # 512 KiB), or 1,000 tasks of up to ~1.8 KiB; held a few times over while it is
    # decoded and encoded, it stays far below either service's 512 MiB memory limit.
    max_page_bytes: int = 16 * 1024 * 1024
    # A page of large tasks is large; beyond this gRPC itself answers RESOURCE_EXHAUSTED.
    grpc_max_message_bytes: int = 64 * 1024 * 1024
    # An outage must give callers a quick, retryable UNAVAILABLE, never a hang.
    database_acquire_timeout_seconds: float = 2.0
    database_command_timeout_seconds: float = 5.0
    shutdown_grace_seconds: float = 5.0
    # A request past this many characters is large: large requests are worked on
    # `large_requests_at_once` at a time (each costs a few times its size in memory).
    large_request_bytes: int = 8 * 1024 * 1024
    large_requests_at_once: int = 1
    # Outbox events waiting to be published above which sendTask is refused with a
    # retryable UNAVAILABLE (0: no bound). The relay holds task.created events back
    # while task.process is too deep, so a slow worker fills this too.
    max_backlog_events: int = 100_000
    # Results recorded in one transaction at most (what has arrived, never waited for).
    processed_batch_max: int = 1000
    # ...and at most this many bytes of binary code: the budget of one transaction, and
    # of the results read ahead of it.
    processed_batch_bytes: int = 8 * 1024 * 1024
    # Characters of messages in one INSERT statement of a request (all in one transaction).
    insert_chunk_bytes: int = 4 * 1024 * 1024
    # Retention: tasks created more than this many days ago are removed (with their
    # events still waiting), so the table and its indexes stay bounded. 0: kept forever.
    task_retention_days: float = Field(default=0, ge=0)
    # How often retention runs, and how many tasks one of its transactions removes
    # (both above 0: a batch of 0 would never finish a run).
    task_retention_interval_seconds: float = Field(default=60.0, gt=0)
    task_retention_batch: int = Field(default=1000, gt=0)

    @property
    def message_limits(self) -> MessageLimits:
        return MessageLimits(self.max_messages, self.max_message_bytes)

    @property
    def page_limits(self) -> PageLimits:
        return PageLimits(self.default_page_size, self.max_page_size, self.max_page_bytes)
