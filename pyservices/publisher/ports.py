"""The ports the relay's use cases talk to; adapters implement them, tests fake them."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager

from pyservices.publisher.domain import Backlog, ClaimLimits, OutboxEvent


class ClaimedBatch(abc.ABC):
    """Outbox rows locked for this relay until the claim's block ends.

    `events` are the rows as the task service stored them, oldest (lowest id) first.
    """

    events: Sequence[OutboxEvent]
    # True when the claim left the next row because it did not fit the byte budget
    # (False when it stopped at the row limit or the end of the outbox).
    byte_limited: bool = False

    @abc.abstractmethod
    async def remove(self, ids: Sequence[int]) -> None:
        """Delete these rows of the batch, and only these (one statement; none: a no-op).
        The deletes take effect when the block ends cleanly; until then `backlog` still
        counts them, and if the block raises they are not deleted at all."""


class OutboxStore(abc.ABC):
    """The outbox table the task service writes and the relays drain (contract:
    `tests/contracts/outbox_store.py`)."""

    @abc.abstractmethod
    def claim(self, limits: ClaimLimits) -> AbstractAsyncContextManager[ClaimedBatch]:
        """Lock the oldest rows no other claim holds, as many as `limits` admits, for the
        block's duration.

        The rows are walked oldest first: rows another claim holds are passed over,
        rows `ClaimLimits.takes` refuses stay (unlocked), and the walk ends at the row
        limit or at the first row `ClaimLimits.admits` refuses (no younger row is taken
        in its place). No row is locked that is not returned, so two claims at once
        never share a row and the second is not left empty while rows wait. When the
        block ends, every row is let go (the removed ones deleted). Raises, of any
        type, if the store cannot be reached; no row is lost then.
        """

    @abc.abstractmethod
    async def backlog(self) -> Backlog:
        """Every row in the outbox, claimed or not, and the age of the oldest (0 if none)."""

    @abc.abstractmethod
    async def ping(self) -> bool:
        """For /health: True when the store answers; raises or False when it does not."""


class OutboxWakeups(abc.ABC):
    """Sets the relay's wakeup when rows are added; the fallback poll covers a miss
    (contract: `tests/contracts/outbox_wakeups.py`)."""

    def __init__(self, wakeup: asyncio.Event | None = None) -> None:
        # The event the relay waits on between claims: owned here, so an injected
        # adapter wakes the relay it is wired into.
        self.wakeup = wakeup or asyncio.Event()

    @abc.abstractmethod
    async def run(self, stop: asyncio.Event) -> None:
        """Watch for new rows until `stop` (then return promptly), reconnecting after any
        outage. Sets the wakeup for each row committed while it watches, and each time it
        starts watching: rows committed while nobody watched were announced to nobody."""

    @abc.abstractmethod
    async def ping(self) -> bool:
        """For /health: True while new rows would be seen at once (not before `run`,
        after it stopped, or while the database is down)."""


class EventPublisher(abc.ABC):
    """The broker, as the relay sends to it (contract: `tests/contracts/event_publisher.py`).

    Routes (`pyservices/common/topology.py`): a task.created event goes to the work
    queue `task.process`, or `task.process.large` when its payload is over
    `LARGE_TASK_BYTES`; a task.processed event goes to the fanout `task.processed`.
    A message carries the payload as its body, the row id as its message id and the
    task id in its `task_id` header.
    """

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
        """Tasks ready in each work queue, one entry per queue of `WORK_QUEUES` (may be
        a moment old). Where a message may carry several tasks, an estimate: the
        messages ready times the tasks per message published lately."""

    @abc.abstractmethod
    async def publish(self, event: OutboxEvent) -> None:
        """Return once the broker confirmed the message; raise if it did not (any
        exception: the relay keeps the row). Raises `BrokerBlocked` at once while
        `blocked`, and `ValueError` for a topic with no route, sending nothing. Publishes
        in flight together each arrive once, in no promised order."""

    async def publish_many(self, events: Sequence[OutboxEvent]) -> list[BaseException | None]:
        """Publish the events together; one outcome per event, in order: None once the
        broker confirmed it, else what `publish` would have raised for it (the relay
        keeps its row). One event's failure is its own: the others still go. Raises
        nothing itself. By default, each through `publish`, all in flight at once."""
        return await asyncio.gather(
            *(self.publish(event) for event in events), return_exceptions=True
        )

    @abc.abstractmethod
    async def ping(self) -> bool:
        """For /health: True while connected; raises BrokerBlocked while the broker
        blocks publishes (a resource alarm), so /health names the reason."""
