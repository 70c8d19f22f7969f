"""The gateway's use cases: thin, since the task service owns the rules."""

from __future__ import annotations

from collections.abc import Sequence

from pyservices.gateway.domain import (
    ALL_FIELDS,
    InvalidInput,
    Task,
    TaskFields,
    TaskNotFound,
    check_encodable,
)
from pyservices.gateway.ports import TaskService


async def send_tasks(messages: Sequence[str], tasks: TaskService) -> list[Task]:
    check_encodable(messages)
    return await tasks.send_tasks(messages)


async def list_tasks(
    limit: int | None, offset: int | None, tasks: TaskService, fields: TaskFields = ALL_FIELDS
) -> list[Task]:
    if limit == 0:
        # On the wire 0 means "the default page size"; a client asking for none gets none.
        return []
    return await tasks.list_tasks(limit or 0, offset or 0, fields)


async def get_task(
    task_id: str, tasks: TaskService, fields: TaskFields = ALL_FIELDS
) -> Task | None:
    try:
        task_id.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("id: not a valid task id") from None
    try:
        return await tasks.get_task(task_id, fields)
    except TaskNotFound:
        return None
