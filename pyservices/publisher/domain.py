"""What the relay moves and the rules it follows; no I/O here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """One outbox row: `payload` is the exact AMQP body, `id` becomes the message_id."""

    id: int
    topic: str
    task_id: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class Backlog:
    """Rows still waiting in the outbox and the age of the oldest one."""

    count: int
    oldest_age_seconds: float


@dataclass(frozen=True, slots=True)
class BatchReport:
    """What one claimed batch came to."""

    claimed: int
    published: int
    failed: int

    def is_full(self, batch_size: int) -> bool:
        """A full batch means more rows are probably waiting: read again at once."""
        return self.claimed >= batch_size
