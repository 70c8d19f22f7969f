"""Fakes at the WebSocket service's ports."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from pyservices.websocket.domain import Frame
from pyservices.websocket.ports import ProcessedEvents


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


class FakeProcessedEvents(ProcessedEvents):
    """The broker side as a fanout in memory: every replica subscribed to `fanout` is
    handed each body published to it (`publish`), from its start until its stop."""

    def __init__(
        self,
        handle: Callable[[bytes], object],
        fanout: list[FakeProcessedEvents] | None = None,
        *,
        reachable: bool = True,
    ) -> None:
        self.handle = handle
        self.fanout = fanout if fanout is not None else []
        self.reachable = reachable

    async def start(self) -> None:
        if not self.reachable:
            raise ConnectionError("the broker cannot be reached")
        self.fanout.append(self)

    async def stop(self) -> None:
        if self in self.fanout:
            self.fanout.remove(self)

    async def ping(self) -> bool:
        return self in self.fanout


def publish(fanout: list[FakeProcessedEvents], body: bytes) -> None:
    for replica in list(fanout):
        with contextlib.suppress(Exception):  # one event's failure stops nothing
            replica.handle(body)
