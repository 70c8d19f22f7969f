"""What the use cases need from the outside world."""

from __future__ import annotations

import abc
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from pyservices.task_service.domain import NewTask, ProcessedResult, Task


class RepositoryUnavailable(Exception):
    """The store cannot be reached now; the caller may retry later."""


@dataclass(frozen=True, slots=True)
class Recorded:
    """What recording a batch of results found: ids that exist, and those processed now."""

    found: frozenset[uuid.UUID]
    newly_processed: frozenset[uuid.UUID]


class TaskRepository(abc.ABC):
    """The tasks and their outbox. Each method is one unit of work (one transaction)."""

    @abc.abstractmethod
    async def add_tasks(self, tasks: Sequence[NewTask]) -> list[Task]:
        """Store all tasks and one `task.created` event each, all or nothing.

        Returns the stored tasks in the order given.
        """

    @abc.abstractmethod
    async def record_processed(self, results: Sequence[ProcessedResult]) -> Recorded:
        """Set the binary code of each unprocessed task and write one `task.processed`
        event for each; a task processed before is left as it is and emits nothing."""

    @abc.abstractmethod
    async def list_tasks(self, limit: int, offset: int) -> list[Task]:
        """Newest first (created_at, then id, descending)."""

    @abc.abstractmethod
    async def get_task(self, task_id: uuid.UUID) -> Task | None: ...
