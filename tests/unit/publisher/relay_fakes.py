"""Fakes at the relay's ports: an in-memory outbox with row locks, a scripted broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager

from pyservices.publisher.domain import Backlog, OutboxEvent
from pyservices.publisher.ports import ClaimedBatch, EventPublisher, OutboxStore


def event(row_id: int, topic: str = "task.created") -> OutboxEvent:
    return OutboxEvent(
        id=row_id, topic=topic, task_id=f"task-{row_id}", payload=f'{{"n":{row_id}}}'.encode()
    )


class FakeBatch(ClaimedBatch):
    def __init__(self, events: Sequence[OutboxEvent]) -> None:
        self.events = events
        self.removed: list[int] = []
        self.remove_calls = 0

    async def remove(self, ids: Sequence[int]) -> None:
        self.remove_calls += 1
        self.removed.extend(ids)


class FakeOutbox(OutboxStore):
    """Rows by id; a claim locks rows like FOR UPDATE SKIP LOCKED and commits on exit."""

    def __init__(self, events: Iterable[OutboxEvent] = ()) -> None:
        self.rows = {e.id: e for e in events}
        self.locked: set[int] = set()
        self.batches: list[FakeBatch] = []
        self.fail_claims = 0

    def add(self, *events: OutboxEvent) -> None:
        self.rows.update({e.id: e for e in events})

    @asynccontextmanager
    async def claim(self, limit: int) -> AsyncIterator[ClaimedBatch]:
        if self.fail_claims:
            self.fail_claims -= 1
            raise ConnectionError("database down")
        ids = sorted(set(self.rows) - self.locked)[:limit]
        self.locked.update(ids)
        batch = FakeBatch([self.rows[i] for i in ids])
        self.batches.append(batch)
        try:
            yield batch
            for row_id in batch.removed:  # commit: the deletes take effect
                self.rows.pop(row_id, None)
        finally:
            self.locked.difference_update(ids)

    async def backlog(self) -> Backlog:
        return Backlog(count=len(self.rows), oldest_age_seconds=1.5 if self.rows else 0.0)


class FakePublisher(EventPublisher):
    """Confirms every event except the ids in `refuse`; tracks how many are in flight."""

    def __init__(self, refuse: Iterable[int] = ()) -> None:
        super().__init__()
        self.refuse = set(refuse)
        self.confirmed: list[OutboxEvent] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.arrived: asyncio.Queue[OutboxEvent] = asyncio.Queue()
        self.refused: asyncio.Queue[OutboxEvent] = asyncio.Queue()

    async def publish(self, event: OutboxEvent) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)  # the confirm comes back later
            if event.id in self.refuse:
                self.refused.put_nowait(event)
                raise ConnectionError(f"broker did not confirm {event.id}")
            self.confirmed.append(event)
            self.arrived.put_nowait(event)
        finally:
            self.in_flight -= 1
