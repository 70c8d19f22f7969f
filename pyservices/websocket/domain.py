"""The fan-out of processed tasks to connected clients, with no I/O.

Each client has its own bounded buffer behind `Subscriber.offer`. A client whose buffer
is full has stopped keeping up: it is removed and told to go ("too slow") rather than
allowed to hold up the broker consumer and, through it, every other client. That is
the fault of the original, which broadcast from inside the consumer.

A buffer is bounded in bytes as well as in frames (`BufferBudget`): a result can be
512 KiB (a 64 KiB message is eight binary digits a byte), so a count alone would let
one slow client hold hundreds of megabytes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from pyservices.common.events import TaskProcessed
from pyservices.websocket.ports import Subscriber

TOO_SLOW = "too slow"
SHUTDOWN = "shutdown"


@dataclass(frozen=True, slots=True)
class Frame:
    """A text frame and its size in bytes (UTF-8, as sent), measured once per event
    rather than once per client. Every client is handed the same object, so the text is
    held once however many buffers it waits in."""

    text: str
    size: int


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
    return Frame(encoded.decode(), len(encoded))


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
    def __init__(self) -> None:
        # A dict keeps insertion order, so clients are served in the order they came.
        self._clients: dict[Subscriber, None] = {}

    def __len__(self) -> int:
        return len(self._clients)

    @property
    def clients(self) -> Collection[Subscriber]:
        return self._clients.keys()

    def add(self, client: Subscriber) -> None:
        self._clients[client] = None

    def remove(self, client: Subscriber) -> None:
        self._clients.pop(client, None)

    def broadcast(self, frame: Frame) -> FanOut:
        delivered = 0
        dropped: list[Subscriber] = []
        for client in list(self._clients):
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
        for client in clients:
            client.drop(reason)
        return len(clients)
