"""What the gateway knows of a task, and the one rule it enforces itself.

Everything about a message's content is the task service's to judge, except what
cannot even cross the wire: protobuf strings are UTF-8, so a message holding a lone
surrogate (which JSON can express as "\\ud800") cannot be sent at all.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


class TaskStatus(enum.Enum):
    PENDING = "PENDING"
    PROCESSED = "PROCESSED"


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    message: str
    binary_code: str
    created_at: datetime
    updated_at: datetime
    processed: bool
    # Opaque: where the task stands in the newest-first order; `after` it, the next page.
    cursor: str = ""

    @property
    def status(self) -> TaskStatus:
        return TaskStatus.PROCESSED if self.processed else TaskStatus.PENDING


@dataclass(frozen=True, slots=True)
class TaskFields:
    """Which large fields of a task to fetch: the ones the client's query selects. A
    message is up to 64 KiB and its binary code eight times that, so a list of ids must
    not fetch them. A field left out reads as the empty string."""

    message: bool = True
    binary_code: bool = True


ALL_FIELDS = TaskFields()


class GatewayError(Exception):
    """A failure the client is told about as it is."""


class InvalidInput(GatewayError):
    """The request itself is wrong: the message says which part and why."""


class TaskServiceUnavailable(GatewayError):
    """The task service, or the database behind it, could not serve the request in time;
    the same request may succeed later. `part` names which, for the client and operator."""

    def __init__(self, part: str = "task service", reason: str | None = None) -> None:
        super().__init__(reason or f"{part} unavailable, retry")


class TaskNotFound(GatewayError):
    """No task has the id asked for."""


class RateLimited(GatewayError):
    """The caller sent more than its limit allows; it may retry after `retry_after`
    seconds. Other callers are not affected."""

    def __init__(self, what: str, retry_after: float) -> None:
        super().__init__(f"too many {what}: over this caller's limit, retry later")
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a request: `owner` is the token's `sub` in auth mode (None in open
    mode, where nothing is owned); `key` names the caller's rate-limit buckets (the
    `sub`, or the client's address in open mode)."""

    owner: str | None
    key: str


def check_encodable(messages: Sequence[str]) -> int:
    """The messages' size in UTF-8 bytes; InvalidInput naming the first message that is
    not encodable as UTF-8."""
    size = 0
    for index, message in enumerate(messages):
        try:
            size += len(message.encode("utf-8"))
        except UnicodeEncodeError:
            raise InvalidInput(
                f"messages[{index}]: not valid Unicode text (contains a lone surrogate)"
            ) from None
    return size
