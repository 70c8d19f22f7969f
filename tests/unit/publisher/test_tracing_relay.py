"""The relay's spans (docs/tracing.md): a producer span per traced row, the child of
the context the row was stored with, whose own context the message carries on. Rows
stored untraced go exactly as before: no span, no header."""

from __future__ import annotations

import dataclasses

import pytest

from pyservices.publisher.usecases import relay_batch
from tests.unit.common.traced import attr, named, parent_id, traceparent_of, tracing_on
from tests.unit.publisher.relay_fakes import FakeOutbox, FakePublisher, event, limits

INSERT_SPAN = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


async def test_each_traced_row_is_published_in_a_child_span_of_its_stored_context(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created = dataclasses.replace(event(1, "task.created"), trace_context=INSERT_SPAN)
    processed = dataclasses.replace(event(2, "task.processed"), trace_context=INSERT_SPAN)
    untraced = event(3, "task.created")
    store, broker = FakeOutbox([created, processed, untraced]), FakePublisher()
    with tracing_on(monkeypatch, "binconv-relay") as exporter:
        await relay_batch(store, broker, limits(10))
        spans = exporter.get_finished_spans()

    [publish_created] = named(spans, "outbox publish task.created")
    [publish_processed] = named(spans, "outbox publish task.processed")
    assert len(spans) == 2  # none for the untraced row
    for span, row in ((publish_created, created), (publish_processed, processed)):
        assert parent_id(span) == 0xB7AD6B7169203331
        assert attr(span, "binconv.task.id") == row.task_id
        assert attr(span, "binconv.batch.size") == 3
        assert attr(span, "binconv.outbox.wait_ms") == 0.0
    assert attr(publish_created, "messaging.destination.name") == "task.process"
    sent = {e.id: e.trace_context for e in broker.confirmed}
    assert sent == {
        1: traceparent_of(publish_created),
        2: traceparent_of(publish_processed),
        3: None,
    }


async def test_a_publish_the_broker_refuses_ends_its_span_as_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    row = dataclasses.replace(event(1, "task.created"), trace_context=INSERT_SPAN)
    store, broker = FakeOutbox([row]), FakePublisher(refuse=[1])
    with tracing_on(monkeypatch, "binconv-relay") as exporter:
        await relay_batch(store, broker, limits(10))
        [span] = exporter.get_finished_spans()
    assert not span.status.is_ok
    assert store.rows  # kept for the retry


async def test_off_the_stored_context_is_passed_on_as_it_is() -> None:
    row = dataclasses.replace(event(1, "task.created"), trace_context=INSERT_SPAN)
    store, broker = FakeOutbox([row, event(2)]), FakePublisher()
    await relay_batch(store, broker, limits(10))
    assert [e.trace_context for e in broker.confirmed] == [INSERT_SPAN, None]
