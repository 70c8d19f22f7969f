"""What the relay moves and the rules it follows; no I/O here."""

from __future__ import annotations

from dataclasses import dataclass

from pyservices.common.events import TASK_CREATED


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """One outbox row: `payload` is the exact AMQP body, `id` becomes the message_id.

    `trace_context`: the `traceparent` the message carries on (None when the row was
    written untraced); `waited_ms`: how long a traced row waited in the outbox.
    """

    id: int
    topic: str
    task_id: str
    payload: bytes
    trace_context: str | None = None
    waited_ms: float | None = None


@dataclass(frozen=True, slots=True)
class ClaimLimits:
    """How much one claim takes, oldest rows first: at most `rows` rows, and no more
    payload bytes than `bytes`.

    The byte budget exists because a batch is all in memory and all in flight at once:
    a processed event of a 64 KiB message is about 600 KiB, so 500 of them would be
    300 MB. The first row is always taken, however big, or a row larger than the
    budget would never leave; it then goes out alone.
    """

    rows: int
    bytes: int
    # Only rows of these topics (None: every topic); the others stay, unlocked.
    topics: frozenset[str] | None = None
    # task.created rows over this many bytes stay too (None: any size).
    created_max_bytes: int | None = None

    def takes(self, topic: str, size: int) -> bool:
        """Whether a row of this topic and payload size may be claimed at all."""
        if self.topics is not None and topic not in self.topics:
            return False
        limit = self.created_max_bytes
        return limit is None or topic != TASK_CREATED or size <= limit

    def admits(self, taken_rows: int, taken_bytes: int, size: int) -> bool:
        """Whether a claim that already holds these takes one more row of `size` bytes."""
        if taken_rows == 0:
            return True
        return taken_rows < self.rows and taken_bytes + size <= self.bytes


@dataclass(frozen=True, slots=True)
class Backlog:
    """Rows still waiting in the outbox and the age of the oldest one."""

    count: int
    oldest_age_seconds: float


@dataclass(frozen=True, slots=True)
class BatchReport:
    """What one claimed batch came to.

    `byte_limited`: the claim stopped because the next row did not fit the byte budget.
    """

    claimed: int
    published: int
    failed: int
    byte_limited: bool = False

    def is_full(self, limits: ClaimLimits) -> bool:
        """A full batch (by rows or by bytes) means more rows are probably waiting:
        read again at once instead of waiting for the next notification."""
        return self.claimed >= limits.rows or self.byte_limited


class BrokerBlocked(ConnectionError):
    """The broker blocks publishes for now (a memory or disk alarm); nothing is lost,
    the rows stay until it lifts the block."""
