"""Fakes at the relay's ports: an in-memory outbox with row locks, a scripted broker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace

from pyservices.common.events import TASK_CREATED, TASK_PROCESSED
from pyservices.common.topology import (
    LARGE_TASK_BYTES,
    PROCESSED_EXCHANGE,
    WORK_QUEUES,
    work_queue_for,
)
from pyservices.publisher.domain import Backlog, BrokerBlocked, ClaimLimits, OutboxEvent
from pyservices.publisher.ports import ClaimedBatch, EventPublisher, OutboxStore, OutboxWakeups


def event(row_id: int, topic: str = "task.created", size: int | None = None) -> OutboxEvent:
    """An outbox row; `size`: its payload padded to exactly that many bytes."""
    payload = f'{{"n":{row_id}}}'.encode()
    if size is not None:
        payload = payload[:size].ljust(size, b" ")
    return OutboxEvent(id=row_id, topic=topic, task_id=f"task-{row_id}", payload=payload)


def _claimed(row: OutboxEvent) -> OutboxEvent:
    """A row as a claim reads it: a traced one says how long it waited (no clock here)."""
    if row.trace_context is None or row.waited_ms is not None:
        return row
    return replace(row, waited_ms=0.0)


def limits(rows: int = 10, bytes: int = 1 << 20) -> ClaimLimits:
    return ClaimLimits(rows=rows, bytes=bytes)


class FakeBatch(ClaimedBatch):
    def __init__(self, events: Sequence[OutboxEvent], byte_limited: bool) -> None:
        self.events = events
        self.byte_limited = byte_limited
        self.removed: list[int] = []
        self.remove_calls = 0

    async def remove(self, ids: Sequence[int]) -> None:
        self.remove_calls += 1
        self.removed.extend(ids)


class FakeOutbox(OutboxStore):
    """Rows by id; a claim locks rows like FOR UPDATE SKIP LOCKED and commits on exit.

    The claim walks the rows as the PostgreSQL adapter does: oldest first, passing over
    rows held by another claim, stopping at the first row `ClaimLimits.admits` refuses.
    """

    def __init__(self, events: Iterable[OutboxEvent] = ()) -> None:
        self.rows = {e.id: e for e in events}
        self.locked: set[int] = set()
        self.batches: list[FakeBatch] = []
        self.fail_claims = 0  # this many claims to come fail (a short outage)
        self.reachable = True  # False: the database is down, every call fails

    def add(self, *events: OutboxEvent) -> None:
        self.rows.update({e.id: e for e in events})

    @asynccontextmanager
    async def claim(self, limits: ClaimLimits) -> AsyncIterator[ClaimedBatch]:
        self._reach()
        if self.fail_claims:
            self.fail_claims -= 1
            raise ConnectionError("database down")
        ids: list[int] = []
        taken_bytes, byte_limited = 0, False
        for row_id in sorted(self.rows):
            if len(ids) >= limits.rows:
                break
            row = self.rows[row_id]
            if not limits.takes(row.topic, len(row.payload)):
                continue
            size = len(self.rows[row_id].payload)
            if not limits.admits(len(ids), taken_bytes, size):
                byte_limited = True
                break
            if row_id not in self.locked:
                ids.append(row_id)
                taken_bytes += size
        self.locked.update(ids)
        batch = FakeBatch([_claimed(self.rows[i]) for i in ids], byte_limited)
        self.batches.append(batch)
        try:
            yield batch
            for row_id in batch.removed:  # commit: the deletes take effect
                self.rows.pop(row_id, None)
        finally:
            self.locked.difference_update(ids)

    async def backlog(self) -> Backlog:
        self._reach()
        return Backlog(count=len(self.rows), oldest_age_seconds=1.5 if self.rows else 0.0)

    async def ping(self) -> bool:
        return self.reachable

    def _reach(self) -> None:
        if not self.reachable:
            raise ConnectionError("database down")


class FakePublisher(EventPublisher):
    """Confirms every event except the ids in `refuse`; tracks how many events and bytes
    are in flight. `block()` / `unblock()` act as the broker's resource alarm; publishing
    an id in `alarm_at` sets it off (the publish fails, the broker blocks).

    Routes as the AMQP adapter does: `delivered` holds each confirmed event under its
    work queue or the processed exchange, and task.created events wait in
    `queued_tasks` (what `tasks_waiting` answers) until a test takes them out.
    """

    def __init__(
        self,
        refuse: Iterable[int] = (),
        alarm_at: Iterable[int] = (),
        large_task_bytes: int = LARGE_TASK_BYTES,
    ) -> None:
        super().__init__()
        self.large_task_bytes = large_task_bytes
        self.refuse = set(refuse)
        self.alarm_at = set(alarm_at)
        self.confirmed: list[OutboxEvent] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.bytes_in_flight = 0
        self.max_bytes_in_flight = 0
        self.arrived: asyncio.Queue[OutboxEvent] = asyncio.Queue()
        self.refused: asyncio.Queue[OutboxEvent] = asyncio.Queue()
        self.queued_tasks: dict[str, int] = {}  # what `tasks_waiting` answers
        self.delivered: dict[str, list[OutboxEvent]] = {}
        self.connected = True  # False: the broker connection is lost

    async def publish(self, event: OutboxEvent) -> None:
        if self.blocked:
            raise BrokerBlocked("the fake broker blocks publishes")
        if not self.connected:
            raise ConnectionError("no broker connection")
        if event.topic == TASK_CREATED:
            destination = work_queue_for(len(event.payload), self.large_task_bytes)
        elif event.topic == TASK_PROCESSED:
            destination = PROCESSED_EXCHANGE
        else:
            raise ValueError(f"unknown outbox topic {event.topic!r}")
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.bytes_in_flight += len(event.payload)
        self.max_bytes_in_flight = max(self.max_bytes_in_flight, self.bytes_in_flight)
        try:
            await asyncio.sleep(0)  # the confirm comes back later
            if event.id in self.alarm_at:
                self.alarm_at.discard(event.id)
                self.block()
                self.refused.put_nowait(event)
                raise BrokerBlocked(f"alarm at {event.id}")
            if event.id in self.refuse:
                self.refused.put_nowait(event)
                raise ConnectionError(f"broker did not confirm {event.id}")
            self.confirmed.append(event)
            self.delivered.setdefault(destination, []).append(event)
            if destination in WORK_QUEUES:
                self.queued_tasks[destination] = self.queued_tasks.get(destination, 0) + 1
            self.arrived.put_nowait(event)
        finally:
            self.in_flight -= 1
            self.bytes_in_flight -= len(event.payload)

    async def tasks_waiting(self) -> dict[str, int]:
        return {queue: self.queued_tasks.get(queue, 0) for queue in WORK_QUEUES}

    def block(self) -> None:
        self.unblocked.clear()

    def unblock(self) -> None:
        self.unblocked.set()

    async def ping(self) -> bool:
        if self.blocked:
            raise BrokerBlocked("fake alarm")
        return self.connected


class FakeWakeups(OutboxWakeups):
    """A LISTEN that hears `notify()` while it runs; `reachable = False` is a database
    outage (it stops listening, and listens again once the database is back)."""

    def __init__(self, wakeup: asyncio.Event | None = None) -> None:
        super().__init__(wakeup)
        self.reachable = True
        self.listening = False

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                if self.reachable and not self.listening:
                    self.listening = True
                    self.wakeup.set()  # rows added while nobody listened
                elif not self.reachable:
                    self.listening = False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.01)
        finally:
            self.listening = False

    def notify(self) -> None:
        if self.listening:
            self.wakeup.set()

    async def ping(self) -> bool:
        return self.listening
