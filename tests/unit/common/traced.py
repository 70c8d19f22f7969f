"""Tracing turned on for one test: spans kept in memory, everything undone afterwards.

OpenTelemetry lets a process set its global tracer provider once; a test that turns
tracing on resets that guard before and after, so that each test gets its own provider
(the library's own test utilities do the same).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

from pyservices.common import tracing

ENDPOINT = "http://127.0.0.1:9/unused"  # never reached: the exporter is in memory


def _reset_global_provider() -> None:
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None


@contextmanager
def tracing_on(
    monkeypatch: pytest.MonkeyPatch,
    service_name: str = "binconv-test",
    instrument: Collection[str] = (),
    follow_callers: bool = True,
    **environment: str,
) -> Iterator[InMemorySpanExporter]:
    """Tracing on as `configure_tracing` turns it on, exporting to memory."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", ENDPOINT)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    tracing.shutdown_tracing()
    _reset_global_provider()
    exporter = InMemorySpanExporter()
    assert tracing.configure_tracing(
        service_name, instrument, follow_callers=follow_callers, exporter=exporter
    )
    try:
        yield exporter
    finally:
        tracing.shutdown_tracing()
        _reset_global_provider()


def named(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


def one(spans: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    [span] = named(spans, name)
    return span


def traceparent_of(span: ReadableSpan) -> str:
    context = span.get_span_context()
    assert context is not None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def is_child(child: ReadableSpan, parent: ReadableSpan) -> bool:
    parent_context = parent.get_span_context()
    return (
        child.parent is not None
        and parent_context is not None
        and child.parent.span_id == parent_context.span_id
        and child.parent.trace_id == parent_context.trace_id
    )


def attr(span: ReadableSpan, name: str) -> Any:
    """One attribute of the span (KeyError if it has none of that name)."""
    return (span.attributes or {})[name]


def trace_id(span: ReadableSpan) -> str:
    context = span.get_span_context()
    assert context is not None
    return f"{context.trace_id:032x}"


def parent_id(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id
