"""The Task Service's use cases, one function each, talking only to the ports."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from pyservices.common import tracing
from pyservices.common.admission import LargeRequestGate
from pyservices.common.logging import get_logger
from pyservices.task_service import domain, metrics
from pyservices.task_service.domain import (
    ALL_FIELDS,
    Ack,
    AckStatus,
    MessageLimits,
    PageLimits,
    ProcessedResult,
    Task,
    TaskFields,
    TaskNotFound,
)
from pyservices.task_service.ports import TaskRepository

log = get_logger(__name__)
tracer = tracing.tracer(__name__)

# What the worker streams back for one task: its id, its binary code, and the worker's
# `traceparent` ("" when tracing is off).
RawResult = tuple[str, str, str]


async def receive_tasks(
    messages: AsyncIterable[str],
    tasks: TaskRepository,
    limits: MessageLimits,
    max_backlog: int = 0,
    gate: LargeRequestGate | None = None,
    owner: Callable[[], str | None] = lambda: None,
) -> list[Task]:
    """Store the messages of one request as tasks, all or none; in the order sent, owned
    by `owner()` (asked once the messages are read: the stream carries it).

    Refused with Overloaded, storing nothing, while the outbox holds more than
    `max_backlog` events (0: no bound): work the system cannot absorb now. Once a
    request has sent more than the gate's threshold, it waits for a large-request turn
    before reading (and holding) the rest.
    """
    async with contextlib.AsyncExitStack() as turn:
        received: list[str] = []
        size, most, waited = 0, limits.max_messages * limits.max_message_bytes, False
        async for message in messages:
            if not received:  # checked once the stream has begun, so that it ends cleanly
                domain.check_backlog(await tasks.backlog(), max_backlog)
            received.append(message)
            size += len(message)
            if len(received) > limits.max_messages or size > most:
                break  # refused whatever follows: no need to read (and hold) the rest
            if gate is not None and not waited and gate.is_large(size):
                await turn.enter_async_context(gate.turn())
                waited = True
        new = domain.new_tasks(received, limits, owner())
        with tracing.current_span(tracer, "tasks.insert") as span:
            trace_context = None
            if span is not None and span.is_recording():
                span.set_attribute("binconv.messages", len(new))
                span.set_attribute("binconv.task.ids", [str(task.id) for task in new])
                trace_context = tracing.traceparent(span)
            stored = await tasks.add_tasks(new, trace_context)
    metrics.TASKS_CREATED.inc(len(stored))
    log.debug("tasks_received", count=len(stored))
    return stored


async def record_processed_tasks(
    results: Sequence[RawResult], tasks: TaskRepository, max_message_bytes: int
) -> list[Ack]:
    """Record a batch of (id, binary code, trace context) results; one ack per result,
    in order. Traced, each result is a `result.record` span, the child of the worker's
    span, and its task.processed event continues that span."""
    checked = [domain.parse_result(raw_id, code, max_message_bytes) for raw_id, code, _ in results]
    spans = _record_spans(results, checked) if tracing.enabled() else None
    valid = [item for item in checked if isinstance(item, ProcessedResult)]
    found: frozenset[uuid.UUID] = frozenset()
    try:
        if valid:
            recorded = await tasks.record_processed(valid)
            found = recorded.found
            metrics.TASKS_PROCESSED.inc(len(recorded.newly_processed))
        acks = [_ack(item, results[index][0], found) for index, item in enumerate(checked)]
    except BaseException as error:
        for span in spans or ():
            if span is not None:
                span.record_exception(error)
                span.set_status(tracing.StatusCode.ERROR)
                span.end()
        raise
    if spans is not None:
        for span, ack in zip(spans, acks, strict=True):
            if span is not None:
                span.set_attribute("binconv.result", ack.status.value)
                span.end()
    for ack in acks:
        if ack.status is not AckStatus.ACCEPTED:
            log.warning(
                "result_refused", task_id=ack.id, status=ack.status.value, detail=ack.detail
            )
    return acks


def _record_spans(
    results: Sequence[RawResult], checked: list[ProcessedResult | Ack]
) -> list[tracing.Span | None]:
    """A `result.record` span for each result that came with a trace context, its child;
    a valid result takes its own span's context, for its task.processed event. A result
    without one (its trace sampled out, or an older worker) gets no span: the sampling
    was decided where the trace began."""
    spans: list[tracing.Span | None] = []
    for index, (raw_id, _, trace_context) in enumerate(results):
        parent = tracing.context_of(trace_context)
        if parent is None:
            spans.append(None)
            continue
        span = tracer.start_span("result.record", parent)
        span.set_attribute("binconv.task.id", raw_id)
        item = checked[index]
        if isinstance(item, ProcessedResult):
            checked[index] = dataclasses.replace(item, trace_context=tracing.traceparent(span))
        spans.append(span)
    return spans


def _ack(item: ProcessedResult | Ack, raw_id: str, found: frozenset[uuid.UUID]) -> Ack:
    if isinstance(item, Ack):
        return item
    if item.task_id in found:
        return Ack(raw_id, AckStatus.ACCEPTED)
    return Ack(raw_id, AckStatus.NOT_FOUND, "no task has this id")


async def list_tasks(
    limit: int,
    offset: int,
    tasks: TaskRepository,
    limits: PageLimits,
    fields: TaskFields = ALL_FIELDS,
    owner: str | None = None,
    after: str = "",
) -> list[Task]:
    """One page of tasks, newest first, with only the large fields asked for; refused
    whole (never cut short) when those fields hold more than the page's byte budget.
    With an owner, only that owner's tasks; with `after` (a task's encoded cursor), only
    the tasks after it."""
    size, start, cursor = domain.page_after(limit, offset, after, limits)
    found = await tasks.list_tasks(size, start, fields, limits.max_bytes, owner, cursor)
    domain.check_page_bytes(found.sizes, limits.max_bytes, fields)
    return found.tasks


async def get_task(
    raw_id: str, tasks: TaskRepository, fields: TaskFields = ALL_FIELDS, owner: str | None = None
) -> Task:
    """The task, or TaskNotFound; with an owner, another owner's task is not found, in
    the same words as an unknown id."""
    task_id = domain.parse_task_id(raw_id)
    task = await tasks.get_task(task_id, fields, owner)
    if task is None:
        raise TaskNotFound(f"no task has id {task_id}")
    return task


async def remove_expired_tasks(
    tasks: TaskRepository,
    retention: timedelta,
    batch: int,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Retention: remove the tasks created more than `retention` ago, `batch` at a time
    (each batch its own short transaction, so no lock is held for long and the pages
    read meanwhile wait for no one); returns how many were removed."""
    cutoff, total = now() - retention, 0
    while True:
        removed = await tasks.remove_created_before(cutoff, batch)
        total += removed
        metrics.TASKS_REMOVED.inc(removed)
        if removed < batch:
            break
        await asyncio.sleep(0)  # let the requests waiting meanwhile run between batches
    if total:
        log.info("tasks_removed", count=total, cutoff=cutoff.isoformat())
    return total
