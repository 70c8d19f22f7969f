"""The GraphQL schema, compatible with the original Go gateway (plus `task` and `status`).

Resolvers only translate: arguments to a use case, domain results to GraphQL types,
domain errors to GraphQL errors with an `extensions.code` a client can act on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, NotRequired, TypedDict, TypeVar

import strawberry
from strawberry.types.nodes import SelectedField, Selection

from pyservices.gateway import usecases
from pyservices.gateway.adapters.graphql_errors import ApiError, to_api_error
from pyservices.gateway.domain import Caller, GatewayError, RateLimited, TaskFields
from pyservices.gateway.domain import Task as DomainTask
from pyservices.gateway.domain import TaskStatus as DomainTaskStatus
from pyservices.gateway.limits import TokenBuckets
from pyservices.gateway.metrics import TASKS_ACCEPTED
from pyservices.gateway.ports import TaskService

T = TypeVar("T")

# Registers the domain's enum as the GraphQL enum TaskStatus (the class is unchanged).
TaskStatus = strawberry.enum(DomainTaskStatus, name="TaskStatus")


class Context(TypedDict):
    task_service: TaskService
    caller: NotRequired[Caller]  # absent: open mode, no limit
    task_buckets: NotRequired[TokenBuckets | None]
    # Set by a resolver whose refusal is a rate limit: the HTTP answer is then a 429.
    retry_after: NotRequired[int]


@strawberry.type
class Task:
    id: str
    message: str
    binary_code: str
    created_at: str = strawberry.field(description="ISO-8601 with time zone")
    updated_at: str = strawberry.field(description="ISO-8601 with time zone")
    status: DomainTaskStatus
    cursor: str = strawberry.field(
        description=(
            "Opaque: this task's place in the newest-first order of `tasks`. Pass the last "
            "task's cursor as `tasks(after:)` for the next page: a seek whose cost does not "
            "grow with the tasks before it, and stable while new tasks arrive."
        )
    )

    @classmethod
    def of(cls, task: DomainTask) -> Task:
        return cls(
            id=task.id,
            message=task.message,
            binary_code=task.binary_code,
            created_at=task.created_at.isoformat(timespec="microseconds"),
            updated_at=task.updated_at.isoformat(timespec="microseconds"),
            status=task.status,
            cursor=task.cursor,
        )


def _service(info: strawberry.Info[Context, Any]) -> TaskService:
    return info.context["task_service"]


def _caller(info: strawberry.Info[Context, Any]) -> Caller:
    return info.context.get("caller", usecases.OPEN)


async def _call(info: strawberry.Info[Context, Any], action: Callable[[], Awaitable[T]]) -> T:
    try:
        return await action()
    except GatewayError as error:
        refusal = to_api_error(error)
        if isinstance(error, RateLimited):
            info.context["retry_after"] = int(str(refusal.extensions["retryAfter"]))
        raise refusal from None


def selected_fields(info: strawberry.Info[Context, Any]) -> TaskFields:
    """The large fields the query selects on the tasks this field returns (through
    fragments too), so that the task service reads and sends only those."""
    names: set[str] = set()
    pending: list[Selection] = [s for field in info.selected_fields for s in field.selections]
    while pending:
        selection = pending.pop()
        if isinstance(selection, SelectedField):
            names.add(selection.name)
        else:  # a fragment, inline or named: its own selections
            pending.extend(selection.selections)
    return TaskFields(message="message" in names, binary_code="binaryCode" in names)


async def resolve_tasks(
    info: strawberry.Info[Context, Any],
    limit: int | None = None,
    offset: int | None = None,
    after: str | None = None,
) -> list[Task]:
    fields = selected_fields(info)
    found = await _call(
        info,
        lambda: usecases.list_tasks(
            limit, offset, _service(info), fields, _caller(info), after=after
        ),
    )
    return [Task.of(task) for task in found]


async def resolve_task(info: strawberry.Info[Context, Any], id: str) -> Task | None:
    fields = selected_fields(info)
    found = await _call(info, lambda: usecases.get_task(id, _service(info), fields, _caller(info)))
    return None if found is None else Task.of(found)


async def resolve_send_task(info: strawberry.Info[Context, Any], messages: list[str]) -> list[Task]:
    buckets = info.context.get("task_buckets")
    stored = await _call(
        info, lambda: usecases.send_tasks(messages, _service(info), _caller(info), buckets)
    )
    TASKS_ACCEPTED.inc(len(stored))
    return [Task.of(task) for task in stored]


@strawberry.type
class Query:
    tasks: list[Task] = strawberry.field(
        resolver=resolve_tasks,
        description=(
            "Newest first. Page with `offset` (skips that many tasks: a deep page reads all "
            "of them) or, better, with `after`: a task's `cursor`, for the tasks after it. "
            "Not both: an offset with `after` is an error."
        ),
    )
    task: Task | None = strawberry.field(
        resolver=resolve_task, description="One task; null when no task has this id."
    )


@strawberry.type
class Mutation:
    send_task: list[Task] = strawberry.mutation(
        resolver=resolve_send_task, description="Stores the messages as tasks (all or none)."
    )


__all__ = ["ApiError", "Context", "Mutation", "Query", "Task", "TaskStatus"]
