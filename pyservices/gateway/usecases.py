"""The gateway's use cases: thin, since the task service owns the rules."""

from __future__ import annotations

from collections.abc import Sequence

from pyservices.common import tracing
from pyservices.gateway.domain import (
    ALL_FIELDS,
    Caller,
    InvalidInput,
    RateLimited,
    Task,
    TaskFields,
    TaskNotFound,
    check_encodable,
)
from pyservices.gateway.limits import TokenBuckets
from pyservices.gateway.ports import TaskService

tracer = tracing.tracer(__name__)
OPEN = Caller(owner=None, key="")  # open mode, no limit: what callers before auth were


async def send_tasks(
    messages: Sequence[str],
    tasks: TaskService,
    caller: Caller = OPEN,
    task_buckets: TokenBuckets | None = None,
) -> list[Task]:
    """Store the messages as the caller's tasks, each message one token of the caller's
    tasks-per-second bucket (RateLimited when it holds too few)."""
    size = check_encodable(messages)
    if task_buckets is not None:
        wait = task_buckets.take(caller.key, len(messages))
        if wait:
            raise RateLimited("tasks", wait)
    with tracing.current_span(tracer, "sendTask") as span:
        if span is not None and span.is_recording():
            span.set_attribute("binconv.messages", len(messages))
            span.set_attribute("binconv.bytes", size)
        return await tasks.send_tasks(messages, owner=caller.owner)


async def list_tasks(
    limit: int | None,
    offset: int | None,
    tasks: TaskService,
    fields: TaskFields = ALL_FIELDS,
    caller: Caller = OPEN,
    after: str | None = None,
) -> list[Task]:
    """A page of the caller's tasks (of every task in open mode), after a task's cursor
    when `after` is given."""
    if limit == 0:
        # On the wire 0 means "the default page size"; a client asking for none gets none.
        return []
    if after is None:  # the original's call, exactly
        return await tasks.list_tasks(limit or 0, offset or 0, fields, owner=caller.owner)
    try:
        after.encode("utf-8")  # a lone surrogate cannot go on the wire
    except UnicodeEncodeError:
        raise InvalidInput("after: not a cursor") from None
    return await tasks.list_tasks(limit or 0, offset or 0, fields, owner=caller.owner, after=after)


async def get_task(
    task_id: str, tasks: TaskService, fields: TaskFields = ALL_FIELDS, caller: Caller = OPEN
) -> Task | None:
    """The task, or None when no task of the caller's has this id."""
    try:
        task_id.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("id: not a valid task id") from None
    try:
        return await tasks.get_task(task_id, fields, owner=caller.owner)
    except TaskNotFound:
        return None
