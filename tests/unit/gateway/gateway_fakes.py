"""A TaskService that keeps tasks in memory, and can be told to fail."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from pyservices.gateway.domain import InvalidInput, Task, TaskFields, TaskNotFound
from pyservices.gateway.ports import TaskService

EPOCH = datetime(2026, 11, 24, 7, 0, 0, 123456, tzinfo=UTC)


class FakeTaskService(TaskService):
    def __init__(self) -> None:
        self.tasks: list[Task] = []
        self.calls: list[tuple[str, object]] = []
        self.fail_with: Exception | None = None

    def _maybe_fail(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with

    async def ping(self) -> bool:
        self._maybe_fail()
        return True

    async def send_tasks(self, messages: Sequence[str]) -> list[Task]:
        self.calls.append(("send_tasks", list(messages)))
        self._maybe_fail()
        for index, message in enumerate(messages):
            if not message.strip():
                raise InvalidInput(f"messages[{index}]: must not be empty or only whitespace")
        stored = []
        for message in messages:
            at = EPOCH + timedelta(seconds=len(self.tasks))
            stored.append(Task(str(uuid.uuid4()), message, "", at, at, processed=False))
        self.tasks.extend(stored)
        return stored

    async def list_tasks(self, limit: int, offset: int, fields: TaskFields) -> list[Task]:
        self.calls.append(("list_tasks", (limit, offset, fields)))
        self._maybe_fail()
        newest_first = list(reversed(self.tasks))
        return [_only(task, fields) for task in newest_first[offset : offset + (limit or 50)]]

    async def get_task(self, task_id: str, fields: TaskFields) -> Task:
        self.calls.append(("get_task", (task_id, fields)))
        self._maybe_fail()
        try:
            uuid.UUID(task_id)
        except ValueError:
            raise InvalidInput("id: not a UUID") from None
        for task in self.tasks:
            if task.id == task_id:
                return _only(task, fields)
        raise TaskNotFound(task_id)


def _only(task: Task, fields: TaskFields) -> Task:
    """The task as the task service sends it: the large fields not asked for are empty."""
    return dataclasses.replace(
        task,
        message=task.message if fields.message else "",
        binary_code=task.binary_code if fields.binary_code else "",
    )
