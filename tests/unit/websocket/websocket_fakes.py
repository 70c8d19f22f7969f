"""Fakes at the WebSocket service's ports."""

from __future__ import annotations

from pyservices.websocket.domain import Frame


class FakeClient:
    """A client that reads nothing: each frame it takes waits in its buffer, bounded in
    frames and in bytes (an empty buffer takes any one frame). Implements Subscriber."""

    def __init__(self, capacity: int = 100, capacity_bytes: int = 1 << 30) -> None:
        self.capacity = capacity
        self.capacity_bytes = capacity_bytes
        self.frames: list[str] = []
        self.bytes = 0
        self.dropped_for: str | None = None

    def offer(self, frame: Frame) -> bool:
        full = len(self.frames) >= self.capacity or self.bytes + frame.size > self.capacity_bytes
        if self.frames and full:
            return False
        self.frames.append(frame.text)
        self.bytes += frame.size
        return True

    def drop(self, reason: str) -> None:
        self.dropped_for = reason
