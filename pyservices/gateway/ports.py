"""What the use cases need from the outside world."""

from __future__ import annotations

import abc
from collections.abc import Sequence

from pyservices.gateway.domain import Task, TaskFields


class TaskService(abc.ABC):
    """The task service. Implementations raise the errors of `domain`:
    InvalidInput, TaskServiceUnavailable, TaskNotFound."""

    @abc.abstractmethod
    async def ping(self) -> bool:
        """For /health: True once the task service can be reached; raises if it cannot."""

    @abc.abstractmethod
    async def send_tasks(self, messages: Sequence[str]) -> list[Task]:
        """Store all the messages as tasks (all or none); returns them in order."""

    @abc.abstractmethod
    async def list_tasks(self, limit: int, offset: int, fields: TaskFields) -> list[Task]:
        """Newest first, with only the large fields asked for; a limit of 0 means the task
        service's default page size. A page whose fields are over the task service's byte
        budget is refused with InvalidInput, saying how to page instead."""

    @abc.abstractmethod
    async def get_task(self, task_id: str, fields: TaskFields) -> Task:
        """The task with this id and only the large fields asked for, or TaskNotFound."""
