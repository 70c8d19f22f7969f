"""What the registry needs from a connected client, and the service from the broker and
the task service."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pyservices.common.events import TaskProcessed
    from pyservices.websocket.domain import Frame


class Subscriber(Protocol):
    """One connected client. Neither method may block or await: the registry calls them
    for every client from inside the broker consumer, so one client must never make the
    others wait."""

    def offer(self, frame: Frame) -> bool:
        """Queue a frame for sending (frames reach the client in the order offered);
        False, queueing nothing, when the client's buffer is full in frames or in bytes
        (`frame.size`). An empty buffer takes any one frame, however large: its client
        is not behind."""

    def drop(self, reason: str) -> None:
        """Ask the client's connection to close, naming why (`TOO_SLOW`, `SHUTDOWN`):
        the client is given that reason."""


class ProcessedEvents(abc.ABC):
    """The `task.processed` events this replica receives (from the broker).

    From `start` until `stop`, each event's body is handed, in the order published, to
    the handler the adapter was made with. Every replica receives every event, and a
    handler failing on one event does not stop the next.

    An adapter routed by owner (access control on) receives instead only the events of
    the owners it follows, each replica its own: `follow` and `unfollow` choose them.
    Unrouted, both do nothing."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Subscribe; raises while the source cannot be reached."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Take no more events and let go of the subscription; harmless twice."""

    @abc.abstractmethod
    async def follow(self, owner: str) -> None:
        """Receive `owner`'s events too: each published after this returns is handed to
        the handler. Before `start`, from `start` on; raises while the source cannot be
        reached."""

    @abc.abstractmethod
    async def unfollow(self, owner: str) -> None:
        """Stop receiving `owner`'s events (some in flight may still come); never raises."""

    @abc.abstractmethod
    async def ping(self) -> bool:
        """For /health: True while events are being received (not before `start`, nor
        after `stop`)."""


class TaskLookup(abc.ABC):
    """Whether a task has been processed yet, asked of the task service when a GraphQL
    subscription starts, so a result that came before the subscription is not missed."""

    @abc.abstractmethod
    async def processed(self, task_id: str, owner: str | None) -> TaskProcessed | None:
        """The task's result, or None while it is not processed. With `owner` (access
        control on), only that owner's tasks are found. Raises UnknownTasks([task_id])
        for a task that is absent or another owner's (the two alike), LookupUnavailable
        while the task service cannot answer."""
