"""A TaskService that keeps tasks in memory, and can be told to fail.

It judges requests by the task service's own rules (`task_service.domain`), at the task
service's default limits unless told others, so its refusals read like the real ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from pyservices.gateway.domain import InvalidInput, Task, TaskFields, TaskNotFound
from pyservices.gateway.ports import TaskService
from pyservices.task_service import domain as rules
from pyservices.task_service.domain import MessageLimits, PageLimits

EPOCH = datetime(2026, 11, 24, 7, 0, 0, 123456, tzinfo=UTC)
# The task service's defaults (MAX_MESSAGES, MAX_MESSAGE_BYTES, DEFAULT_PAGE_SIZE, ...).
DEFAULT_LIMITS = MessageLimits(max_messages=1000, max_message_bytes=65536)
DEFAULT_PAGES = PageLimits(default_size=50, max_size=1000, max_bytes=16 * 1024 * 1024)


class FakeTaskService(TaskService):
    def __init__(
        self, limits: MessageLimits = DEFAULT_LIMITS, pages: PageLimits = DEFAULT_PAGES
    ) -> None:
        self.tasks: list[Task] = []  # oldest first
        self.owners: dict[str, str | None] = {}  # task id: owner
        self.calls: list[tuple[str, object]] = []
        self.fail_with: Exception | None = None
        self._limits = limits
        self._pages = pages

    def _maybe_fail(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with

    async def ping(self) -> bool:
        self._maybe_fail()
        return True

    async def send_tasks(self, messages: Sequence[str], *, owner: str | None = None) -> list[Task]:
        self.calls.append(("send_tasks", list(messages)))
        self._maybe_fail()
        try:
            new = rules.new_tasks(messages, self._limits)
        except rules.InvalidRequest as error:
            raise InvalidInput(str(error)) from None
        at = EPOCH + timedelta(seconds=len(self.tasks))  # one request, one time of creation
        stored = [
            Task(str(t.id), t.message, "", at, at, False, rules.Cursor(at, seq).encode())
            for seq, t in enumerate(new, start=len(self.tasks))
        ]
        self.tasks.extend(stored)
        self.owners.update((task.id, owner) for task in stored)
        return stored

    async def list_tasks(
        self,
        limit: int,
        offset: int,
        fields: TaskFields,
        *,
        owner: str | None = None,
        after: str | None = None,
    ) -> list[Task]:
        self.calls.append(("list_tasks", (limit, offset, fields)))
        self._maybe_fail()
        selected = rules.TaskFields(message=fields.message, binary_code=fields.binary_code)
        try:
            size, start, cursor = rules.page_after(limit, offset, after or "", self._pages)
            owned = [t for t in self.tasks if owner is None or self.owners[t.id] == owner]
            newest = list(reversed(owned))  # seq: the position in self.tasks
            if cursor is not None:
                newest = [t for t in newest if (t.created_at, self._seq(t)) < _key(cursor)]
            page = newest[start : start + size]
            sizes = [
                _size(task.message, fields.message) + _size(task.binary_code, fields.binary_code)
                for task in page
            ]
            rules.check_page_bytes(sizes, self._pages.max_bytes, selected)
        except rules.InvalidRequest as error:
            raise InvalidInput(str(error)) from None
        return [_only(task, fields) for task in page]

    async def get_task(self, task_id: str, fields: TaskFields, *, owner: str | None = None) -> Task:
        self.calls.append(("get_task", (task_id, fields)))
        self._maybe_fail()
        try:
            wanted = str(rules.parse_task_id(task_id))
        except rules.InvalidRequest as error:
            raise InvalidInput(str(error)) from None
        for task in self.tasks:
            if task.id == wanted and (owner is None or self.owners[task.id] == owner):
                return _only(task, fields)
        raise TaskNotFound(f"no task has id {wanted}")

    def _seq(self, task: Task) -> int:
        return rules.Cursor.decode(task.cursor).seq

    def process(self, task_id: str, binary_code: str) -> None:
        """What the worker does through the task service: the task gets its code."""
        [index] = [n for n, task in enumerate(self.tasks) if task.id == task_id]
        done = self.tasks[index]
        at = done.created_at + timedelta(milliseconds=1)
        self.tasks[index] = dataclasses.replace(
            done, binary_code=binary_code, updated_at=at, processed=True
        )


def _key(cursor: rules.Cursor) -> tuple[datetime, int]:
    return (cursor.created_at, cursor.seq)


def _size(value: str, selected: bool) -> int:
    return len(value.encode("utf-8")) if selected else 0


def _only(task: Task, fields: TaskFields) -> Task:
    """The task as the task service sends it: the large fields not asked for are empty."""
    return dataclasses.replace(
        task,
        message=task.message if fields.message else "",
        binary_code=task.binary_code if fields.binary_code else "",
    )
