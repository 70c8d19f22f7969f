"""The task service's spans (docs/tracing.md): `tasks.insert` around storing a request's
tasks, whose context every task.created event stores; `result.record` per result, the
child of the worker's context it came with, whose context its task.processed event
stores. Off, nothing is stored."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable

import pytest

from pyservices.common import tracing
from pyservices.common.events import TASK_PROCESSED
from pyservices.task_service import usecases
from pyservices.task_service.domain import MessageLimits
from tests.unit.common.traced import (
    attr,
    is_child,
    named,
    one,
    parent_id,
    traceparent_of,
    tracing_on,
)
from tests.unit.task_service.fakes import FakeTaskRepository

LIMITS = MessageLimits(max_messages=3, max_message_bytes=64)
A = "01000001"
WORKER_SPAN = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def stream(messages: Iterable[str]) -> AsyncIterator[str]:
    for message in messages:
        yield message


async def test_every_created_event_stores_the_insert_spans_context(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = FakeTaskRepository()
    with tracing_on(monkeypatch, "binconv-task-service") as exporter:
        with tracing.tracer(__name__).start_as_current_span("server"):
            stored = await usecases.receive_tasks(stream(["a", "b", "c"]), repo, LIMITS)
        spans = exporter.get_finished_spans()
    insert = one(spans, "tasks.insert")
    assert is_child(insert, one(spans, "server"))
    assert attr(insert, "binconv.messages") == 3
    assert list(attr(insert, "binconv.task.ids")) == [str(task.id) for task in stored]
    assert repo.trace_contexts == [traceparent_of(insert)] * 3


async def test_each_result_is_recorded_in_its_own_span_under_the_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = FakeTaskRepository()
    [done, other] = await usecases.receive_tasks(stream(["a", "b"]), repo, LIMITS)
    unknown = str(uuid.uuid4())
    with tracing_on(monkeypatch, "binconv-task-service") as exporter:
        await usecases.record_processed_tasks(
            [
                (str(done.id), A, WORKER_SPAN),
                (unknown, A, WORKER_SPAN),
                ("not-an-id", A, WORKER_SPAN),
                (str(other.id), A, ""),
            ],
            repo,
            64,
        )
        records = named(exporter.get_finished_spans(), "result.record")
    by_task = {attr(span, "binconv.task.id"): span for span in records}
    # Results without a context (sampled out, or an older worker) are not traced.
    assert {task_id: attr(span, "binconv.result") for task_id, span in by_task.items()} == {
        str(done.id): "accepted",
        unknown: "not_found",
        "not-an-id": "invalid",
    }
    assert parent_id(by_task[str(done.id)]) == 0xB7AD6B7169203331
    processed = {
        task_id: context
        for (topic, task_id, _), context in zip(repo.outbox, repo.trace_contexts, strict=True)
        if topic == TASK_PROCESSED
    }
    assert processed == {done.id: traceparent_of(by_task[str(done.id)]), other.id: None}


async def test_off_no_event_stores_a_trace_context() -> None:
    repo = FakeTaskRepository()
    [task] = await usecases.receive_tasks(stream(["a"]), repo, LIMITS)
    await usecases.record_processed_tasks([(str(task.id), A, WORKER_SPAN)], repo, 64)
    assert repo.trace_contexts == [None, None]
