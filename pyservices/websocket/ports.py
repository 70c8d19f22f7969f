"""What the registry needs from a connected client."""

from __future__ import annotations

from typing import Protocol


class Subscriber(Protocol):
    """One connected client. Neither method may block or await: the registry calls them
    for every client from inside the broker consumer, so one client must never make the
    others wait."""

    def offer(self, frame: str) -> bool:
        """Queue a frame for sending; False when the client's buffer is full."""

    def drop(self, reason: str) -> None:
        """Ask the client's connection to close, naming why."""
