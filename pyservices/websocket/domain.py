"""The fan-out of processed tasks to connected clients, with no I/O.

Each client has its own bounded buffer behind `Subscriber.offer`. A client whose buffer
is full has stopped keeping up: it is removed and told to go ("too slow") rather than
allowed to hold up the broker consumer and, through it, every other client. That is
the fault of the original, which broadcast from inside the consumer.
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


def frame_of(event: TaskProcessed) -> str:
    """The text frame pushed to clients: {"id", "binaryCode"} plus the two times."""
    return orjson.dumps(
        {
            "id": event.id,
            "binaryCode": event.binary_code,
            "createdAt": event.created_at.isoformat(),
            "processedAt": event.processed_at.isoformat(),
        }
    ).decode()


def seconds_since_created(event: TaskProcessed, now: datetime) -> float:
    created = event.created_at
    if created.tzinfo is None:  # the contract says UTC; do not crash on a naive time
        created = created.replace(tzinfo=UTC)
    return (now - created).total_seconds()


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

    def broadcast(self, frame: str) -> FanOut:
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
