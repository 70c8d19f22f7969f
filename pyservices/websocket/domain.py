"""The fan-out of processed tasks to connected clients, with no I/O.

Each client has its own bounded buffer behind `Subscriber.offer`. A client whose buffer
is full has stopped keeping up: it is removed and told to go ("too slow") rather than
allowed to hold up the broker consumer and, through it, every other client. That is
the fault of the original, which broadcast from inside the consumer.

With access control on, each client is registered under its owner and a result goes
only to its owner's clients; `ConnectionLimits` caps connections per caller and in all.

A buffer is bounded in bytes as well as in frames (`BufferBudget`): a result can be
512 KiB (a 64 KiB message is eight binary digits a byte), so a count alone would let
one slow client hold hundreds of megabytes.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from pyservices.common.events import TaskProcessed
from pyservices.websocket.ports import Subscriber

TOO_SLOW = "too slow"
SHUTDOWN = "shutdown"
TOKEN_EXPIRED = "the token has expired"
CALLER_FULL = "too many connections for this caller"
SERVER_FULL = "too many connections: try again later"
BROKER_UNAVAILABLE = "results cannot be routed now: try again later"
# RFC 6455: 1008 policy violation (a refused Origin, a caller over its cap); 1013 try
# again later (the process is full, or cannot subscribe now).
POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013


@dataclass(frozen=True, slots=True)
class Frame:
    """A text frame and its size in bytes (UTF-8, as sent), measured once per event
    rather than once per client. Every client is handed the same object, so the text is
    held once however many buffers it waits in. `event` is what it was made from, for
    GraphQL subscriptions, which filter by id and send their own shape."""

    text: str
    size: int
    event: TaskProcessed | None = field(default=None, compare=False)


def frame_of(event: TaskProcessed) -> Frame:
    """The text frame pushed to clients: {"id", "binaryCode"} plus the two times."""
    encoded = orjson.dumps(
        {
            "id": event.id,
            "binaryCode": event.binary_code,
            "createdAt": event.created_at.isoformat(),
            "processedAt": event.processed_at.isoformat(),
        }
    )
    return Frame(encoded.decode(), len(encoded), event)


def seconds_since_created(event: TaskProcessed, now: datetime) -> float:
    created = event.created_at
    if created.tzinfo is None:  # the contract says UTC; do not crash on a naive time
        created = created.replace(tzinfo=UTC)
    return (now - created).total_seconds()


class BufferBudget:
    """What one client has waiting: frames offered to it and not yet sent, counted in
    frames and in bytes. A frame is charged when it is offered and released once it has
    been sent (not when the sender takes it), so a send stuck on a client that does not
    read still counts against that client.
    """

    def __init__(self, max_frames: int, max_bytes: int) -> None:
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self.frames = 0
        self.bytes = 0

    def admit(self, frame: Frame) -> bool:
        """Charge `frame`; False (nothing charged) when it would pass either bound.

        A client with nothing waiting always takes the frame, even one larger than the
        byte bound: it is not behind, and a byte bound set below the largest result
        must not drop every client on that result. One frame is bounded anyway by the
        task service's message limit.
        """
        if self.frames and (
            self.frames + 1 > self.max_frames or self.bytes + frame.size > self.max_bytes
        ):
            return False
        self.frames += 1
        self.bytes += frame.size
        return True

    def release(self, frame: Frame) -> None:
        self.frames -= 1
        self.bytes -= frame.size


@dataclass(frozen=True)
class FanOut:
    delivered: int
    dropped: list[Subscriber] = field(default_factory=list)


class ClientRegistry:
    """The connected clients, each under its owner (the caller's `sub`; None in open
    mode). With `by_owner`, a frame reaches only its owner's clients; without, every
    client, as in the original."""

    def __init__(self, *, by_owner: bool = False) -> None:
        self.by_owner = by_owner
        # A dict keeps insertion order, so clients are served in the order they came.
        self._clients: dict[Subscriber, str | None] = {}
        self._owners: dict[str | None, dict[Subscriber, None]] = {}

    def __len__(self) -> int:
        return len(self._clients)

    @property
    def clients(self) -> Collection[Subscriber]:
        return self._clients.keys()

    def add(self, client: Subscriber, owner: str | None = None) -> None:
        self._clients[client] = owner
        self._owners.setdefault(owner, {})[client] = None

    def remove(self, client: Subscriber) -> None:
        if client not in self._clients:
            return
        owner = self._clients.pop(client)
        of_owner = self._owners[owner]
        del of_owner[client]
        if not of_owner:
            del self._owners[owner]

    def broadcast(self, frame: Frame, owner: str | None = None) -> FanOut:
        """Offer `frame` to every client, or with `by_owner` to `owner`'s (none when
        the frame has no owner: an open-mode task belongs to no caller)."""
        if not self.by_owner:
            targets = list(self._clients)
        else:
            targets = list(self._owners.get(owner, ())) if owner is not None else []
        delivered = 0
        dropped: list[Subscriber] = []
        for client in targets:
            if client.offer(frame):
                delivered += 1
            else:
                self.remove(client)
                client.drop(TOO_SLOW)
                dropped.append(client)
        return FanOut(delivered, dropped)

    def drop_all(self, reason: str) -> int:
        clients = list(self._clients)
        self._clients.clear()
        self._owners.clear()
        for client in clients:
            client.drop(reason)
        return len(clients)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a connection is not taken: its close code and reason."""

    code: int
    reason: str


class ConnectionLimits:
    """How many connections each caller holds, and all of them, against their caps."""

    def __init__(self, per_caller: int, total: int) -> None:
        self.per_caller = per_caller
        self.total = total
        self._held: dict[str, int] = {}
        self._all = 0

    def held(self, caller: str) -> int:
        return self._held.get(caller, 0)

    def admit(self, caller: str) -> Refusal | None:
        """Count one more connection for `caller`, or say why not (counting nothing)."""
        if self._all >= self.total:
            return Refusal(TRY_AGAIN_LATER, SERVER_FULL)
        if self.held(caller) >= self.per_caller:
            return Refusal(POLICY_VIOLATION, f"{CALLER_FULL} (at most {self.per_caller})")
        self._held[caller] = self.held(caller) + 1
        self._all += 1
        return None

    def release(self, caller: str) -> None:
        held = self.held(caller) - 1
        if held > 0:
            self._held[caller] = held
        else:
            self._held.pop(caller, None)
        self._all -= 1


# A subscription's `ids` hold at most as many as one sendTask's messages (the task
# service's MAX_MESSAGES default), so one sendTask's tasks fit in one subscription.
MAX_SUBSCRIBED_IDS = 1000
NAMED_IDS = 10  # in an error's message; its extensions list them all


class SubscriptionRefused(Exception):
    """A subscription that cannot start; the message says why, for the client."""


class InvalidIds(SubscriptionRefused):
    """The `ids` themselves are wrong (not UUIDs, too many)."""


class UnknownTasks(SubscriptionRefused):
    """Some ids name no task the caller may see (absent, or another owner's: the same)."""

    def __init__(self, ids: list[str]) -> None:
        named = ", ".join(ids[:NAMED_IDS])
        more = f" and {len(ids) - NAMED_IDS} more" if len(ids) > NAMED_IDS else ""
        super().__init__(f"no task has the id {named}{more}")
        self.ids = ids


class LookupUnavailable(SubscriptionRefused):
    """The task service cannot say now whether the tasks were processed: retry later."""


def subscribed_ids(ids: Iterable[str] | None) -> frozenset[str] | None:
    """The ids a subscription follows, in canonical UUID form; None follows every task.
    InvalidIds when one is not a UUID or there are more than MAX_SUBSCRIBED_IDS."""
    if ids is None:
        return None
    given = list(ids)
    if len(given) > MAX_SUBSCRIBED_IDS:
        raise InvalidIds(
            f"too many ids: {len(given)}, at most {MAX_SUBSCRIBED_IDS} per subscription"
        )
    canonical: set[str] = set()
    for task_id in given:
        try:
            canonical.add(str(uuid.UUID(task_id)))
        except ValueError:
            raise InvalidIds(f"not a task id (a UUID): {task_id[:64]!r}") from None
    return frozenset(canonical)


class ResultFilter:
    """Which results one subscription sends: with ids, each of those tasks once (the
    broker delivers at least once, and a result found at the start may come live too);
    without, every result it is offered."""

    def __init__(self, ids: frozenset[str] | None) -> None:
        self.ids = ids
        self._sent: set[str] = set()
        # Queued for sending, not sent yet: a redelivery of the same result is not queued
        # twice (each copy would hold client budget).
        self._queued: set[str] = set()

    def wants(self, task_id: str) -> bool:
        return self.ids is None or (
            task_id in self.ids and task_id not in self._sent and task_id not in self._queued
        )

    def queued(self, task_id: str) -> None:
        """`task_id`'s result waits to be sent: not wanted again meanwhile."""
        if self.ids is not None:
            self._queued.add(task_id)

    def take(self, task_id: str) -> bool:
        """True, once per id, when the result of `task_id` is to be sent."""
        if self.ids is None:
            return True
        if task_id not in self.ids or task_id in self._sent:
            return False
        self._queued.discard(task_id)
        self._sent.add(task_id)
        return True

    @property
    def done(self) -> bool:
        """Every id's result has been sent (never, without ids)."""
        return self.ids is not None and len(self._sent) == len(self.ids)
