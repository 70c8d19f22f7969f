"""What the use cases need from the outside world."""

from __future__ import annotations

import abc
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pyservices.task_service.domain import (
    ALL_FIELDS,
    Cursor,
    NewTask,
    ProcessedResult,
    Task,
    TaskFields,
)


class RepositoryUnavailable(Exception):
    """The store cannot be reached now; the caller may retry later."""


@dataclass(frozen=True, slots=True)
class Recorded:
    """What recording a batch of results found: ids that exist, and those processed now."""

    found: frozenset[uuid.UUID]
    newly_processed: frozenset[uuid.UUID]


@dataclass(frozen=True, slots=True)
class SizedPage:
    """A page of tasks and the bytes of each one's selected large fields, in page order.

    The tasks carry those fields only when the sizes sum to at most the budget asked
    for; a page over it is to be refused, so its large fields are never read.
    """

    tasks: list[Task]
    sizes: list[int]


class TaskRepository(abc.ABC):
    """The tasks and their outbox. Each method is one unit of work (one transaction),
    and raises RepositoryUnavailable when the store cannot be reached.

    Owners: a task keeps the owner it was added with (None in open mode), and both its
    events carry it. The reads take an `owner`: None reads every task (open mode), a
    name reads only that owner's tasks, so another owner's task is absent."""

    @abc.abstractmethod
    async def ping(self) -> bool:
        """For /health: True when the store answers; raises or False when it does not."""

    @abc.abstractmethod
    async def add_tasks(
        self, tasks: Sequence[NewTask], trace_context: str | None = None
    ) -> list[Task]:
        """Store all tasks, each with its owner, and one `task.created` event each (in
        the order given, each event with `trace_context`), all or nothing. The tasks
        of one call share one created_at, which is also their updated_at, and have
        increasing `seq`s in the order given.
        An id already stored, or given twice, is a caller's bug: the call raises (the
        store's own error) and stores nothing.

        Returns the stored tasks in the order given.
        """

    @abc.abstractmethod
    async def backlog(self) -> int:
        """Outbox events not yet published: a cheap estimate, never below the truth,
        that may be a moment old."""

    @abc.abstractmethod
    async def record_processed(self, results: Sequence[ProcessedResult]) -> Recorded:
        """Set the binary code (and processed_at, updated_at with it) of each unprocessed
        task and write one `task.processed` event for each (with the result's
        `trace_context`). A task processed before, or
        earlier in the same batch (a duplicate id keeps its first result), is left as it
        is and emits nothing; an unknown id is not found. Concurrent calls with the same
        results emit each event once."""

    @abc.abstractmethod
    async def list_tasks(
        self,
        limit: int,
        offset: int,
        fields: TaskFields,
        max_bytes: int,
        owner: str | None = None,
        after: Cursor | None = None,
    ) -> SizedPage:
        """Newest first (created_at, then insertion order, descending: the tasks of one
        add_tasks call list in the reverse of the order given), with the size in UTF-8
        bytes of each task's selected large fields. Those fields are read only when the
        sizes sum to at most `max_bytes` (over it, the tasks come without them): memory
        stays bounded by the budget, whatever the page.

        `after` (a listed task's `cursor`): only the tasks after it in that order, at a
        cost that does not grow with the tasks before it (offset is then 0). Each task
        listed carries its `seq`, so its cursor can be handed out."""

    @abc.abstractmethod
    async def remove_created_before(self, cutoff: datetime, limit: int) -> int:
        """Retention: remove up to `limit` tasks created before `cutoff`, oldest first,
        with their outbox events still waiting (events of a task that no longer exists);
        returns how many tasks were removed. One short unit of work: a caller removes a
        large backlog in many calls, never holding locks for long. Rows that another
        unit of work holds are skipped, not waited for."""

    @abc.abstractmethod
    async def get_task(
        self, task_id: uuid.UUID, fields: TaskFields = ALL_FIELDS, owner: str | None = None
    ) -> Task | None:
        """The task with only the large fields asked for, or None (also for a task of
        another owner, when `owner` is given)."""
