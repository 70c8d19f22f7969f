"""What the use cases need from the outside world."""

from __future__ import annotations

import abc
from collections.abc import Sequence

from pyservices.gateway.domain import Task, TaskFields


class TaskService(abc.ABC):
    """The task service. Implementations raise the errors of `domain`: InvalidInput
    with the task service's own words for a request that breaks its rules (limits
    included), TaskNotFound, and TaskServiceUnavailable when the task service, or the
    database behind it, is down ("database unavailable, retry" names the database).

    `owner` (auth mode: the caller's token `sub`) owns the tasks sent, and limits the
    reads to its own tasks: another owner's task is not found. None: open mode."""

    @abc.abstractmethod
    async def ping(self) -> bool:
        """For /health: True once the task service can be reached; while it cannot, raises
        or waits (the caller bounds the wait)."""

    @abc.abstractmethod
    async def send_tasks(self, messages: Sequence[str], *, owner: str | None = None) -> list[Task]:
        """Store all the messages as tasks, exactly as sent (all or none, at least one);
        returns them in order, unprocessed, sharing one created_at (also their
        updated_at)."""

    @abc.abstractmethod
    async def list_tasks(
        self,
        limit: int,
        offset: int,
        fields: TaskFields,
        *,
        owner: str | None = None,
        after: str | None = None,
    ) -> list[Task]:
        """Newest first (the tasks of one send_tasks in the reverse of the order sent),
        with only the large fields asked for; a limit of 0 means the task service's
        default page size, one over its maximum or a negative limit or offset is
        InvalidInput. A page whose fields are over the task service's byte budget is
        refused with InvalidInput, saying how to page instead.

        Every task listed (or sent) carries its `cursor`; `after` one, the page holds
        only the tasks after that task (whether or not it still exists). An `after` that
        is not a cursor, or with a non-zero offset, is InvalidInput."""

    @abc.abstractmethod
    async def get_task(self, task_id: str, fields: TaskFields, *, owner: str | None = None) -> Task:
        """The task with this id and only the large fields asked for, or TaskNotFound
        (InvalidInput for an id that is not a UUID)."""
