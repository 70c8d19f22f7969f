"""An in-memory task repository with the same contract as the PostgreSQL one."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from pyservices.common.events import TASK_CREATED, TASK_PROCESSED, TaskCreated, TaskProcessed
from pyservices.task_service.domain import (
    ALL_FIELDS,
    Cursor,
    NewTask,
    ProcessedResult,
    Task,
    TaskFields,
)
from pyservices.task_service.ports import (
    Recorded,
    RepositoryUnavailable,
    SizedPage,
    TaskRepository,
)


class FakeTaskRepository(TaskRepository):
    def __init__(self) -> None:
        self.tasks: dict[uuid.UUID, Task] = {}
        self.outbox: list[tuple[str, uuid.UUID, bytes]] = []
        self.trace_contexts: list[str | None] = []  # of each outbox event, in order
        self.unavailable = False
        self.published = 0  # outbox events counted as gone to the broker
        self.large_bytes_read = 0  # of messages and binary codes, by list_tasks and get_task
        self._clock = datetime(2026, 1, 1, tzinfo=UTC)
        self._seq = 0

    def _now(self) -> datetime:
        self._clock += timedelta(seconds=1)
        return self._clock

    def _check(self) -> None:
        if self.unavailable:
            raise RepositoryUnavailable("database unavailable: fake outage")

    async def ping(self) -> bool:
        self._check()
        return True

    async def add_tasks(
        self, tasks: Sequence[NewTask], trace_context: str | None = None
    ) -> list[Task]:
        self._check()
        ids = [task.id for task in tasks]
        if len(set(ids)) < len(ids) or not self.tasks.keys().isdisjoint(ids):
            # Like the primary key: an id stored twice fails the whole call.
            raise ValueError("a task with this id exists")
        now = self._now()
        stored = [
            Task(t.id, t.message, "", now, now, owner=t.owner, seq=self._seq + n)
            for n, t in enumerate(tasks, start=1)
        ]
        self._seq += len(tasks)
        for task in stored:
            self.tasks[task.id] = task
            event = TaskCreated(str(task.id), task.message, task.created_at, task.owner)
            self.outbox.append((TASK_CREATED, task.id, event.to_json()))
            self.trace_contexts.append(trace_context)
        return stored

    async def backlog(self) -> int:
        self._check()
        return len(self.outbox) - self.published

    async def record_processed(self, results: Sequence[ProcessedResult]) -> Recorded:
        self._check()
        now = self._now()
        found: set[uuid.UUID] = set()
        newly: set[uuid.UUID] = set()
        for result in results:
            task = self.tasks.get(result.task_id)
            if task is None:
                continue
            found.add(task.id)
            if task.processed:
                continue
            done = dataclasses.replace(
                task, binary_code=result.binary_code, updated_at=now, processed_at=now
            )
            self.tasks[task.id] = done
            newly.add(task.id)
            event = TaskProcessed(
                str(task.id), result.binary_code, task.created_at, now, task.owner
            )
            self.outbox.append((TASK_PROCESSED, task.id, event.to_json()))
            self.trace_contexts.append(result.trace_context)
        return Recorded(frozenset(found), frozenset(newly))

    async def list_tasks(
        self,
        limit: int,
        offset: int,
        fields: TaskFields,
        max_bytes: int,
        owner: str | None = None,
        after: Cursor | None = None,
    ) -> SizedPage:
        self._check()
        owned = [t for t in self.tasks.values() if owner is None or t.owner == owner]
        if after is not None:
            owned = [t for t in owned if (t.created_at, t.seq) < (after.created_at, after.seq)]
        newest = sorted(owned, key=lambda t: (t.created_at, t.seq), reverse=True)
        page = newest[offset : offset + limit]
        sizes = [
            _size(task.message, fields.message) + _size(task.binary_code, fields.binary_code)
            for task in page
        ]
        # Like the real one: the large fields of a page over the budget are never read.
        read = fields if sum(sizes) <= max_bytes else TaskFields(message=False, binary_code=False)
        return SizedPage([self._read(task, read) for task in page], sizes)

    async def remove_created_before(self, cutoff: datetime, limit: int) -> int:
        self._check()
        old = sorted(
            (t for t in self.tasks.values() if t.created_at < cutoff),
            key=lambda t: (t.created_at, t.seq),
        )[:limit]
        gone = {task.id for task in old}
        for task_id in gone:
            del self.tasks[task_id]
        # Only events still waiting go with their tasks (`published` counts from the front).
        sent, waiting = self.outbox[: self.published], self.outbox[self.published :]
        kept = [
            (event, context)
            for event, context in zip(waiting, self.trace_contexts[self.published :], strict=True)
            if event[1] not in gone
        ]
        self.outbox = sent + [event for event, _ in kept]
        self.trace_contexts = self.trace_contexts[: self.published] + [c for _, c in kept]
        return len(gone)

    async def get_task(
        self, task_id: uuid.UUID, fields: TaskFields = ALL_FIELDS, owner: str | None = None
    ) -> Task | None:
        self._check()
        task = self.tasks.get(task_id)
        if task is None or (owner is not None and task.owner != owner):
            return None
        return self._read(task, fields)

    def _read(self, task: Task, fields: TaskFields) -> Task:
        """The task with only the large fields asked for; counts the bytes read."""
        message = task.message if fields.message else ""
        code = task.binary_code if fields.binary_code else ""
        self.large_bytes_read += _size(message, True) + _size(code, True)
        return dataclasses.replace(task, message=message, binary_code=code)


def _size(value: str, selected: bool) -> int:
    return len(value.encode("utf-8")) if selected else 0
