"""The worker's spans (docs/tracing.md): each task a `task.process receive` span, the
child of the relay's publish span named by the delivery's `traceparent` header, with a
`convert` span in it; the result carries the receive span's context on."""

from __future__ import annotations

import time

import pytest

from pyservices.common.tracing import PUBLISHED_AT_MS
from pyservices.worker.results import ResultSubmitter
from pyservices.worker.usecases import process_batch
from tests.unit.common.traced import (
    attr,
    is_child,
    named,
    one,
    parent_id,
    trace_id,
    traceparent_of,
    tracing_on,
)
from tests.unit.worker.worker_fakes import (
    FakeConverter,
    FakeDelivery,
    FakeTaskService,
    settled,
    task_body,
)

PUBLISH_SPAN = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def test_each_task_continues_the_trace_of_its_delivery(
    monkeypatch: pytest.MonkeyPatch, service: FakeTaskService, submitter: ResultSubmitter
) -> None:
    with tracing_on(monkeypatch, "binconv-worker") as exporter:
        published = time.time_ns() // 1_000_000 - 25
        first = FakeDelivery(
            task_body("t1", "A"),
            headers={"traceparent": PUBLISH_SPAN, PUBLISHED_AT_MS: published},
        )
        again = FakeDelivery(
            task_body("t2", "hi"),
            headers={"traceparent": PUBLISH_SPAN, "x-delivery-count": 1},
            redelivered=True,
        )

        await process_batch([first, again], FakeConverter(), submitter)
        await settled(first)
        await settled(again)

        spans = exporter.get_finished_spans()
        receives = {attr(s, "binconv.task.id"): s for s in named(spans, "task.process receive")}
        converts = {attr(s, "binconv.task.id"): s for s in named(spans, "convert")}
    assert set(receives) == set(converts) == {"t1", "t2"}
    for task_id, receive in receives.items():
        assert parent_id(receive) == 0xB7AD6B7169203331
        assert trace_id(receive) == "0af7651916cd43dd8448eb211c80319c"
        assert is_child(converts[task_id], receive)
    assert attr(receives["t1"], "messaging.rabbitmq.redelivered") is False
    assert attr(receives["t1"], "binconv.delivery_count") == 0
    assert attr(receives["t1"], "binconv.queue.wait_ms") >= 25
    assert attr(receives["t2"], "messaging.rabbitmq.redelivered") is True
    assert attr(receives["t2"], "binconv.delivery_count") == 1
    assert attr(converts["t2"], "binconv.binary_bytes") == 16
    sent = {result.task_id: result.trace_context for result in service.streams[-1].sent}
    assert sent == {task_id: traceparent_of(span) for task_id, span in receives.items()}


async def test_a_delivery_without_a_traceparent_is_not_traced(
    monkeypatch: pytest.MonkeyPatch, service: FakeTaskService, submitter: ResultSubmitter
) -> None:
    # Its trace was sampled out where it began (or the relay does not trace).
    with tracing_on(monkeypatch, "binconv-worker") as exporter:
        traced = FakeDelivery(task_body("t1", "A"), headers={"traceparent": PUBLISH_SPAN})
        untraced = FakeDelivery(task_body("t2", "A"))
        await process_batch([traced, untraced], FakeConverter(), submitter)
        await settled(traced)
        await settled(untraced)
        spans = exporter.get_finished_spans()
    assert {attr(span, "binconv.task.id") for span in spans} == {"t1"}
    sent = {result.task_id: result.trace_context for result in service.streams[-1].sent}
    assert sent["t2"] == ""
    assert sent["t1"] == traceparent_of(one(spans, "task.process receive"))


async def test_off_no_result_carries_a_trace_context(
    service: FakeTaskService, submitter: ResultSubmitter
) -> None:
    delivery = FakeDelivery(task_body("t1", "A"), headers={"traceparent": PUBLISH_SPAN})
    await process_batch([delivery], FakeConverter(), submitter)
    await settled(delivery)
    assert service.streams[-1].sent[0].trace_context == ""
