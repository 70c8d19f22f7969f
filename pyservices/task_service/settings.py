"""The Task Service's configuration, from environment variables of the same name."""

from __future__ import annotations

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
    # Results recorded in one transaction at most (what has arrived, never waited for).
    processed_batch_max: int = 1000

    @property
    def message_limits(self) -> MessageLimits:
        return MessageLimits(self.max_messages, self.max_message_bytes)

    @property
    def page_limits(self) -> PageLimits:
        return PageLimits(self.default_page_size, self.max_page_size, self.max_page_bytes)
