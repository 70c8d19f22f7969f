"""Fakes at the WebSocket service's ports."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import orjson

from pyservices.common.events import TaskProcessed
from pyservices.websocket.domain import Frame, LookupUnavailable, UnknownTasks
from pyservices.websocket.ports import ProcessedEvents, TaskLookup


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
    handed each body published to it (`publish`), from its start until its stop; with
    `by_owner`, only the bodies whose JSON `owner` it follows."""

    def __init__(
        self,
        handle: Callable[[bytes], object],
        fanout: list[FakeProcessedEvents] | None = None,
        *,
        reachable: bool = True,
        by_owner: bool = False,
    ) -> None:
        self.handle = handle
        self.fanout = fanout if fanout is not None else []
        self.reachable = reachable
        self.by_owner = by_owner
        self.followed: set[str] = set()
        self.follows: list[str] = []  # every follow and unfollow, in order: "+a", "-a"

    async def follow(self, owner: str) -> None:
        if not self.by_owner:
            return
        if not self.reachable:
            raise ConnectionError("the broker cannot be reached")
        await asyncio.sleep(0)  # a round trip: others run meanwhile
        self.follows.append(f"+{owner}")
        self.followed.add(owner)

    async def unfollow(self, owner: str) -> None:
        if self.by_owner:
            await asyncio.sleep(0)
            self.follows.append(f"-{owner}")
            self.followed.discard(owner)

    def receives(self, body: bytes) -> bool:
        if not self.by_owner:
            return True
        with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
            return orjson.loads(body).get("owner") in self.followed
        return False

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
            if replica.receives(body):
                replica.handle(body)


class FakeTaskLookup(TaskLookup):
    """The task service's tasks in memory (`add`, `process`); `reachable=False` is a
    task service that is down. Counts the lookups it answers (`asked`)."""

    def __init__(self, *, reachable: bool = True) -> None:
        self.reachable = reachable
        self.tasks: dict[str, tuple[str | None, datetime, TaskProcessed | None]] = {}
        self.asked = 0

    def add(self, owner: str | None = None) -> str:
        task_id = str(uuid.uuid4())
        self.tasks[task_id] = (owner, datetime.now(UTC), None)
        return task_id

    def process(self, task_id: str, binary_code: str) -> TaskProcessed:
        owner, created_at, _ = self.tasks[task_id]
        result = TaskProcessed(task_id, binary_code, created_at, datetime.now(UTC), owner)
        self.tasks[task_id] = (owner, created_at, result)
        return result

    async def processed(self, task_id: str, owner: str | None) -> TaskProcessed | None:
        if not self.reachable:
            raise LookupUnavailable("task service unavailable, retry")
        self.asked += 1
        await asyncio.sleep(0)  # an answer comes later, as over the network
        found = self.tasks.get(task_id)
        if found is None or (owner is not None and found[0] != owner):
            raise UnknownTasks([task_id])
        return found[2]
