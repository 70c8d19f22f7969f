"""The ports the relay's use cases talk to; adapters implement them, tests fake them."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager

from pyservices.publisher.domain import Backlog, OutboxEvent


class ClaimedBatch(abc.ABC):
    """Outbox rows locked for this relay until the batch's transaction ends."""

    events: Sequence[OutboxEvent]

    @abc.abstractmethod
    async def remove(self, ids: Sequence[int]) -> None:
        """Delete these rows (one statement); takes effect when the claim ends cleanly."""


class OutboxStore(abc.ABC):
    @abc.abstractmethod
    def claim(self, limit: int) -> AbstractAsyncContextManager[ClaimedBatch]:
        """Lock up to `limit` oldest rows no other relay holds, for the block's duration."""

    @abc.abstractmethod
    async def backlog(self) -> Backlog: ...


class EventPublisher(abc.ABC):
    def __init__(self) -> None:
        # Set by the adapter each time a lost broker connection is restored, so the
        # relay retries at once instead of sitting out the rest of its backoff.
        self.reconnected = asyncio.Event()

    @abc.abstractmethod
    async def publish(self, event: OutboxEvent) -> None:
        """Return once the broker confirmed the message; raise if it did not."""
