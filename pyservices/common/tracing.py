"""OpenTelemetry tracing, on only when an OTLP endpoint is set (docs/tracing.md).

Off (the default), nothing is installed: `current_span` opens no span at all, the
no-op tracer serves the rest, and the services check `enabled()` once per batch where
tracing would cost per task (trace headers, outbox columns), so that nothing extra is
formatted, stored or sent.

On, one TracerProvider per process exports over OTLP HTTP/protobuf in batches, with the
sampler the standard variables choose (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG),
and the instrumentations a service asks for are installed. The trace context crosses
the outbox, the broker and the result stream as a W3C `traceparent` string: `traceparent`
formats the current span's, `context_of` reads one back.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from pyservices.common.logging import get_logger

log = get_logger(__name__)

INSTRUMENTATIONS = frozenset({"grpc_server", "grpc_client", "asyncpg"})
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
# An AMQP header beside `traceparent`: when the relay published the message (ms since
# the epoch), so the consumer's span can say how long it sat in the queue.
PUBLISHED_AT_MS = "published_at_ms"
# The result stream is one call for the worker's whole life: a span of it would never
# end, and each result carries its own context instead (ProcessedTask.trace_context).
RESULT_STREAM_METHOD = "SendProcessedTask"
# Health and metrics scrapes are not requests anyone traces.
EXCLUDED_URLS = "/health,/metrics"
# The most the flush at shutdown may take (a collector that is down must not hold it).
FLUSH_MILLIS = 3000

_PROPAGATOR = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None  # set while tracing is on


def requested(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for tracing: an OTLP endpoint set, the SDK not disabled."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(
        environ.get(name, "").strip()
        for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def enabled() -> bool:
    """Whether this process traces (configure_tracing turned it on)."""
    return _provider is not None


def configure_tracing(
    service_name: str,
    instrument: Collection[str] = (),
    *,
    follow_callers: bool = True,
    exporter: SpanExporter | None = None,
    environ: Mapping[str, str] = os.environ,
) -> bool:
    """Turn tracing on if `requested`, once per process; returns whether it is on.

    `service_name` is the resource's `service.name` unless OTEL_SERVICE_NAME is set.
    `follow_callers=False` (the public gateway): a trace context in a request's headers
    is not followed, so every trace starts here and is sampled here; otherwise any
    caller could send a sampled `traceparent` and have every request traced (a 1 %
    ratio made 100 %, at its cost) under a trace id of its choosing.
    `exporter` replaces the OTLP exporter (tests pass an in-memory one, whose spans are
    then exported one by one as they end).
    """
    if _provider is not None:
        return True
    if unknown := set(instrument) - INSTRUMENTATIONS:
        raise ValueError(f"no instrumentation named {sorted(unknown)}")
    if not requested(environ):
        return False
    name = environ.get("OTEL_SERVICE_NAME", "").strip() or service_name
    # The provider reads OTEL_TRACES_SAMPLER and its argument itself.
    resource = Resource.create({SERVICE_NAME: name})
    provider = TracerProvider(resource=resource)
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        processor: SpanProcessor = BatchSpanProcessor(OTLPSpanExporter())
    else:
        processor = SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    propagate.set_global_textmap(_PROPAGATOR if follow_callers else _InjectOnly())
    # Queries only inside a traced step: a health probe's `SELECT 1` or the relay's
    # claim would otherwise each start a trace of their own.
    queries = TracerProvider(resource=resource, sampler=ParentBased(ALWAYS_OFF))
    queries.add_span_processor(processor)
    _install(provider, queries, instrument)
    _set_provider(provider)
    log.info("tracing_on", service_name=name, instrumentations=sorted(instrument))
    return True


class _InjectOnly(TraceContextTextMapPropagator):
    """Sends the current trace context on (the gRPC client's metadata) but takes none
    from what comes in (the HTTP instrumentation's request headers)."""

    def extract(self, carrier: Any, context: Context | None = None, getter: Any = None) -> Context:
        return context if context is not None else Context()


def _set_provider(provider: TracerProvider | None) -> None:
    global _provider
    _provider = provider


def _install(
    provider: TracerProvider, queries: TracerProvider, instrument: Collection[str]
) -> None:
    if "grpc_server" in instrument or "grpc_client" in instrument:
        from opentelemetry.instrumentation.grpc import (
            GrpcAioInstrumentorClient,
            GrpcAioInstrumentorServer,
            filters,
        )

        not_results = filters.negate(filters.method_name(RESULT_STREAM_METHOD))
        if "grpc_server" in instrument:
            server = GrpcAioInstrumentorServer(filter_=not_results)  # type: ignore[no-untyped-call]
            server.instrument(tracer_provider=provider)
        if "grpc_client" in instrument:
            client = GrpcAioInstrumentorClient(filter_=not_results)  # type: ignore[no-untyped-call]
            client.instrument(tracer_provider=provider)
    if "asyncpg" in instrument:
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

        AsyncPGInstrumentor().instrument(tracer_provider=queries)  # type: ignore[no-untyped-call]


def _uninstall() -> None:
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.grpc import (
        GrpcAioInstrumentorClient,
        GrpcAioInstrumentorServer,
    )

    for instrumentor in (
        GrpcAioInstrumentorServer(),  # type: ignore[no-untyped-call]
        GrpcAioInstrumentorClient(),  # type: ignore[no-untyped-call]
        AsyncPGInstrumentor(),  # type: ignore[no-untyped-call]
    ):
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()


def instrument_fastapi(app: Any) -> None:
    """Trace the app's requests (not /health nor /metrics) when tracing is on."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=_provider,
        excluded_urls=EXCLUDED_URLS,
        # One span per request, not one more per ASGI message sent and received.
        exclude_spans=["receive", "send"],
    )


def shutdown_tracing() -> None:
    """Export what is buffered (within FLUSH_MILLIS), remove the instrumentations and
    stop: tracing is off again (a test may turn it on anew). Harmless when off."""
    provider = _provider
    if provider is None:
        return
    _set_provider(None)
    propagate.set_global_textmap(_PROPAGATOR)
    try:
        provider.force_flush(FLUSH_MILLIS)
        provider.shutdown()
    except Exception as error:  # a collector that is down must not fail the stop
        log.warning("tracing_flush_failed", error=repr(error))
    _uninstall()


_NO_SPAN: AbstractContextManager[None] = nullcontext()


def current_span(
    tracer: Tracer, name: str, *, continuing: bool = False, **options: Any
) -> AbstractContextManager[Span | None]:
    """`tracer.start_as_current_span(name, ...)` while tracing is on; off, a block with no
    span at all (None), not even the API's no-op one, which still sets the context.
    `continuing`: only within a trace already current (one a message carried in);
    without one, no span either: the sampling was decided where the trace began."""
    if _provider is None:
        return _NO_SPAN
    if continuing and not trace.get_current_span().get_span_context().is_valid:
        return _NO_SPAN
    span: AbstractContextManager[Span] = tracer.start_as_current_span(name, **options)
    return span


def tracer(name: str) -> Tracer:
    """A module's tracer: the no-op one while tracing is off, the provider's once on
    (and that of a later provider, should tracing be turned on anew)."""
    return _Tracer(name)


class _Tracer(Tracer):
    """Unlike the API's proxy, which binds to the first provider for good, this follows
    the provider `configure_tracing` set (a test turns tracing on and off many times)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._made_by: TracerProvider | None = None
        self._tracer: Tracer = trace.NoOpTracer()

    def _current(self) -> Tracer:
        provider = _provider
        if provider is not self._made_by:
            self._made_by = provider
            self._tracer = (
                trace.NoOpTracer() if provider is None else provider.get_tracer(self._name)
            )
        return self._tracer

    def start_span(self, *args: Any, **kwargs: Any) -> Span:
        return self._current().start_span(*args, **kwargs)

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        return self._current().start_as_current_span(*args, **kwargs)


def traceparent(span: Span | None = None) -> str | None:
    """The W3C `traceparent` of `span` (the current span by default), or None when
    tracing is off or the span is not sampled: nothing is then stored or sent."""
    if _provider is None:
        return None
    span = span or trace.get_current_span()
    context = span.get_span_context()
    if not context.is_valid or not context.trace_flags.sampled:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, trace.set_span_in_context(span))
    return carrier.get(TRACEPARENT)


def context_of(traceparent: str | None, tracestate: str | None = None) -> Context | None:
    """The context a stored or received `traceparent` names, to start a child span in;
    None when there is none (or it does not parse): a span then starts a new trace."""
    if not traceparent:
        return None
    carrier = {TRACEPARENT: traceparent}
    if tracestate:
        carrier[TRACESTATE] = tracestate
    context = _PROPAGATOR.extract(carrier)
    if not trace.get_current_span(context).get_span_context().is_valid:
        return None
    return context


def header_text(headers: Mapping[str, Any] | None, name: str) -> str | None:
    """A string header of an AMQP message (a str, or bytes as some clients send)."""
    if not headers:
        return None
    value = headers.get(name)
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value if isinstance(value, str) else None


@contextmanager
def attached(context: Context | None) -> Iterator[None]:
    """Run the block in `context` (as the current one), if any."""
    if context is None:
        yield
        return
    token = otel_context.attach(context)
    try:
        yield
    finally:
        otel_context.detach(token)


__all__ = [
    "Span",
    "SpanKind",
    "StatusCode",
    "attached",
    "configure_tracing",
    "context_of",
    "enabled",
    "header_text",
    "instrument_fastapi",
    "requested",
    "shutdown_tracing",
    "traceparent",
    "tracer",
]
