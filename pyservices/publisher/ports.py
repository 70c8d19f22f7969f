"""The ports the relay's use cases talk to; adapters implement them, tests fake them."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager

from pyservices.publisher.domain import Backlog, ClaimLimits, OutboxEvent


class ClaimedBatch(abc.ABC):
    """Outbox rows locked for this relay until the batch's transaction ends."""

    events: Sequence[OutboxEvent]
    # True when the claim left the next row because it did not fit the byte budget.
    byte_limited: bool = False

    @abc.abstractmethod
    async def remove(self, ids: Sequence[int]) -> None:
        """Delete these rows (one statement); takes effect when the claim ends cleanly."""


class OutboxStore(abc.ABC):
    @abc.abstractmethod
    def claim(self, limits: ClaimLimits) -> AbstractAsyncContextManager[ClaimedBatch]:
        """Lock the oldest rows no other relay holds, as many as `limits` admits (see
        `ClaimLimits.admits`), for the block's duration; lock no row it does not return."""

    @abc.abstractmethod
    async def backlog(self) -> Backlog: ...

    @abc.abstractmethod
    async def ping(self) -> bool:
        """For /health: True when the store answers; raises or False when it does not."""


class OutboxWakeups(abc.ABC):
    """Sets the relay's wakeup when rows are added; the fallback poll covers a miss."""

    @abc.abstractmethod
    async def run(self, stop: asyncio.Event) -> None:
        """Watch for new rows until `stop`, reconnecting after any outage."""

    @abc.abstractmethod
    async def ping(self) -> bool:
        """For /health: True while new rows would be seen at once."""


class EventPublisher(abc.ABC):
    def __init__(self) -> None:
        # Set by the adapter each time a lost broker connection is restored, so the
        # relay retries at once instead of sitting out the rest of its backoff.
        self.reconnected = asyncio.Event()
        # Cleared by the adapter while the broker blocks this connection's publishes
        # (a memory or disk alarm), set again when it lifts the block: the relay waits
        # on it rather than sending batches the broker will not read.
        self.unblocked = asyncio.Event()
        self.unblocked.set()

    @property
    def blocked(self) -> bool:
        return not self.unblocked.is_set()

    @abc.abstractmethod
    async def tasks_waiting(self) -> Mapping[str, int]:
        """Messages ready in each work queue (may be a moment old)."""

    @abc.abstractmethod
    async def publish(self, event: OutboxEvent) -> None:
        """Return once the broker confirmed the message; raise if it did not."""

    @abc.abstractmethod
    async def ping(self) -> bool:
        """For /health: True while connected; raises BrokerBlocked while the broker
        blocks publishes (a resource alarm), so /health names the reason."""
