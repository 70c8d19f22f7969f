"""An in-memory task repository with the same contract as the PostgreSQL one."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from pyservices.common.events import TASK_CREATED, TASK_PROCESSED, TaskCreated, TaskProcessed
from pyservices.task_service.domain import NewTask, ProcessedResult, Task
from pyservices.task_service.ports import Recorded, RepositoryUnavailable, TaskRepository


class FakeTaskRepository(TaskRepository):
    def __init__(self) -> None:
        self.tasks: dict[uuid.UUID, Task] = {}
        self.outbox: list[tuple[str, uuid.UUID, bytes]] = []
        self.unavailable = False
        self._clock = datetime(2026, 1, 1, tzinfo=UTC)

    def _now(self) -> datetime:
        self._clock += timedelta(seconds=1)
        return self._clock

    def _check(self) -> None:
        if self.unavailable:
            raise RepositoryUnavailable("database unavailable: fake outage")

    async def add_tasks(self, tasks: Sequence[NewTask]) -> list[Task]:
        self._check()
        now = self._now()
        stored = [Task(t.id, t.message, "", now, now) for t in tasks]
        for task in stored:
            self.tasks[task.id] = task
            event = TaskCreated(str(task.id), task.message, task.created_at)
            self.outbox.append((TASK_CREATED, task.id, event.to_json()))
        return stored

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
            done = Task(task.id, task.message, result.binary_code, task.created_at, now, now)
            self.tasks[task.id] = done
            newly.add(task.id)
            event = TaskProcessed(str(task.id), result.binary_code, task.created_at, now)
            self.outbox.append((TASK_PROCESSED, task.id, event.to_json()))
        return Recorded(frozenset(found), frozenset(newly))

    async def list_tasks(self, limit: int, offset: int) -> list[Task]:
        self._check()
        newest = sorted(self.tasks.values(), key=lambda t: (t.created_at, t.id), reverse=True)
        return newest[offset : offset + limit]

    async def get_task(self, task_id: uuid.UUID) -> Task | None:
        self._check()
        return self.tasks.get(task_id)
