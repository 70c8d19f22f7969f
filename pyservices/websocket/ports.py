"""What the registry needs from a connected client."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pyservices.websocket.domain import Frame


class Subscriber(Protocol):
    """One connected client. Neither method may block or await: the registry calls them
    for every client from inside the broker consumer, so one client must never make the
    others wait."""

    def offer(self, frame: Frame) -> bool:
        """Queue a frame for sending; False when the client's buffer is full (in frames
        or in bytes)."""

    def drop(self, reason: str) -> None:
        """Ask the client's connection to close, naming why."""
