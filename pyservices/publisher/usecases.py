"""The relay's use cases: relay one batch, measure the backlog, and the loop that runs them.

Why the order claim -> publish -> confirm -> delete -> commit: a row leaves the outbox
only after the broker confirmed its message, so a crash anywhere loses nothing (the
row is published again: at-least-once; consumers are idempotent). The claim holds
`FOR UPDATE SKIP LOCKED` row locks until the delete commits, so a second relay skips
rows this one is publishing instead of publishing them twice.

Memory and the bytes in flight are bounded by the claim: a batch holds at most
`ClaimLimits.rows` rows and `ClaimLimits.bytes` payload bytes (or one bigger row alone).

When the broker blocks publishes (a memory or disk alarm), the batch in flight fails at
its confirm timeout, its rows staying, and no batch starts until the broker lifts the
block: the relay waits instead of timing out batch after batch. The broker still holds
the part of that batch it had not read, so those events may arrive twice.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from dataclasses import replace

from pyservices.common import tracing
from pyservices.common.backoff import backoff_delay
from pyservices.common.events import TASK_CREATED, TASK_PROCESSED
from pyservices.common.logging import get_logger
from pyservices.common.topology import (
    LARGE_PROCESS_QUEUE,
    LARGE_TASK_BYTES,
    PROCESS_QUEUE,
    PROCESSED_EXCHANGE,
    WORK_QUEUES,
    work_queue_for,
)
from pyservices.publisher import metrics
from pyservices.publisher.domain import Backlog, BatchReport, ClaimLimits, OutboxEvent
from pyservices.publisher.ports import EventPublisher, OutboxStore

log = get_logger(__name__)
tracer = tracing.tracer(__name__)

# While task.created events are held back, how often the queue depth is read again.
HOLD_BACK_RECHECK_SECONDS = 1.0
# The backlog gauges are read after a drain at most this often: a count after every
# drain was one more query per notification. A gauge is scraped every few seconds
# anyway; it is at most one fallback poll late (the empty drain then reads it).
BACKLOG_INTERVAL_SECONDS = 1.0
PROCESSED_ONLY = frozenset({TASK_PROCESSED})


class PublishFailed(RuntimeError):
    """Some events of a batch were not confirmed; their rows stay for a retry."""


async def relay_batch(
    store: OutboxStore,
    publisher: EventPublisher,
    limits: ClaimLimits,
    large_task_bytes: int = LARGE_TASK_BYTES,
) -> BatchReport:
    """Publish the oldest unclaimed rows together and delete those the broker confirmed."""
    started = time.perf_counter()
    async with store.claim(limits) as batch:
        events = list(batch.events)
        if not events:
            return BatchReport(claimed=0, published=0, failed=0)
        spans = None
        if tracing.enabled():
            events, spans = _publish_spans(events, large_task_bytes)
        # All publishes in flight at once: the confirms come back together. The claim
        # is what bounds this: its byte budget is the bytes in flight.
        try:
            outcomes = await publisher.publish_many(events)
        except BaseException as error:  # cancelled (a stop), or the publisher broke
            if spans is not None:
                _end_spans(spans, [error] * len(spans))
            raise
        if spans is not None:
            _end_spans(spans, outcomes)
        confirmed = [
            event for event, outcome in zip(events, outcomes, strict=True) if outcome is None
        ]
        failures = [outcome for outcome in outcomes if outcome is not None]
        if confirmed:
            await batch.remove([event.id for event in confirmed])
    metrics.OUTBOX_BATCH_SECONDS.observe(time.perf_counter() - started)
    for topic, count in collections.Counter(event.topic for event in confirmed).items():
        metrics.OUTBOX_PUBLISHED.labels(topic=topic).inc(count)
    if failures:
        metrics.OUTBOX_PUBLISH_FAILURES.inc(len(failures))
        log.warning(
            "outbox_publish_failed",
            failed=len(failures),
            confirmed=len(confirmed),
            error=repr(failures[0]),
        )
    return BatchReport(
        claimed=len(events),
        published=len(confirmed),
        failed=len(failures),
        byte_limited=batch.byte_limited,
    )


def _publish_spans(
    events: list[OutboxEvent], large_task_bytes: int
) -> tuple[list[OutboxEvent], list[tracing.Span | None]]:
    """A producer span for each traced row, the child of the context it was stored
    with; the message then carries the span's own context on (the stored one if this
    span is not sampled). Untraced rows go as they are, with no span."""
    sent: list[OutboxEvent] = []
    spans: list[tracing.Span | None] = []
    for event in events:
        if event.trace_context is None:
            sent.append(event)
            spans.append(None)
            continue
        if event.topic == TASK_CREATED:
            destination = work_queue_for(len(event.payload), large_task_bytes)
        else:
            destination = PROCESSED_EXCHANGE
        span = tracer.start_span(
            f"outbox publish {event.topic}",
            tracing.context_of(event.trace_context),
            kind=tracing.SpanKind.PRODUCER,
            attributes={
                "binconv.task.id": event.task_id,
                "binconv.batch.size": len(events),
                "messaging.destination.name": destination,
            },
        )
        if event.waited_ms is not None:
            span.set_attribute("binconv.outbox.wait_ms", event.waited_ms)
        own = tracing.traceparent(span) or event.trace_context
        sent.append(replace(event, trace_context=own))
        spans.append(span)
    return sent, spans


def _end_spans(spans: list[tracing.Span | None], outcomes: list[BaseException | None]) -> None:
    for span, outcome in zip(spans, outcomes, strict=True):
        if span is None:
            continue
        if outcome is not None:
            span.record_exception(outcome)
            span.set_status(tracing.StatusCode.ERROR, type(outcome).__name__)
        span.end()


async def measure_backlog(store: OutboxStore) -> Backlog:
    backlog = await store.backlog()
    metrics.OUTBOX_BACKLOG.set(backlog.count)
    metrics.OUTBOX_OLDEST_AGE.set(backlog.oldest_age_seconds)
    return backlog


class OutboxRelay:
    """Drains the outbox whenever woken (NOTIFY) or every `fallback_poll` seconds.

    `wakeup` is set by the LISTEN adapter. It is cleared *before* a drain starts, so a
    notification that arrives during the drain makes the next wait return at once:
    a committed row is never left waiting for the fallback poll.
    """

    def __init__(
        self,
        store: OutboxStore,
        publisher: EventPublisher,
        wakeup: asyncio.Event,
        *,
        limits: ClaimLimits,
        fallback_poll: float,
        max_queued_tasks: int = 0,
        large_task_bytes: int = LARGE_TASK_BYTES,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._wakeup = wakeup
        self._limits = limits
        self._fallback_poll = fallback_poll
        self._max_queued_tasks = max_queued_tasks
        self._large_task_bytes = large_task_bytes
        self.holding_back = False
        self.failures = 0
        self._backlog_measured = -BACKLOG_INTERVAL_SECONDS  # monotonic seconds

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._wakeup.clear()
            self._publisher.reconnected.clear()
            try:
                await self.drain(stop)
            except Exception as exc:  # db or broker trouble: the rows stay, retry later
                self.failures += 1
                delay = backoff_delay(self.failures)
                log.warning("outbox_drain_failed", error=repr(exc), retry_in=delay)
                if not self._publisher.blocked:  # if blocked, `drain` waits for the unblock
                    await _wait_any(stop, self._publisher.reconnected, seconds=delay)
                continue
            self.failures = 0
            if time.monotonic() - self._backlog_measured >= BACKLOG_INTERVAL_SECONDS:
                self._backlog_measured = time.monotonic()
                with contextlib.suppress(Exception):  # a metric is not worth a retry
                    await measure_backlog(self._store)
            # Rows held back wait for the queue to shrink, which no NOTIFY announces.
            poll = min(HOLD_BACK_RECHECK_SECONDS, self._fallback_poll)
            await _wait_any(
                stop, self._wakeup, seconds=poll if self.holding_back else self._fallback_poll
            )

    async def drain(self, stop: asyncio.Event) -> int:
        """Relay batches until one comes back short; return how many events went out."""
        published = 0
        while not stop.is_set():
            if self._publisher.blocked:
                # No claim while blocked: the rows stay unlocked, nothing more times out,
                # and the next batch starts the moment the broker lifts the block.
                log.warning("outbox_relay_paused_broker_blocked")
                await _wait_any(stop, self._publisher.unblocked, seconds=None)
                continue
            limits = await self._claim_limits()
            report = await relay_batch(self._store, self._publisher, limits, self._large_task_bytes)
            published += report.published
            if report.failed:
                raise PublishFailed(f"{report.failed} of {report.claimed} not confirmed")
            if not report.is_full(self._limits):
                break
        return published

    async def _claim_limits(self) -> ClaimLimits:
        """Every row, unless a work queue holds more than `max_queued_tasks`: then the
        task.created events bound for it stay in the outbox (and its backlog makes the
        task service refuse more) instead of piling up in the broker. Results always go,
        and short tasks still go while only `task.process.large` is full."""
        held: set[str] = set()
        if self._max_queued_tasks:
            depths = await self._publisher.tasks_waiting()
            held = {q for q in WORK_QUEUES if depths.get(q, 0) > self._max_queued_tasks}
        if bool(held) != self.holding_back:
            self.holding_back = bool(held)
            metrics.CREATED_HELD_BACK.set(int(self.holding_back))
            log.warning("task_created_held_back" if held else "task_created_released")
        if PROCESS_QUEUE in held:
            return replace(self._limits, topics=PROCESSED_ONLY)
        if LARGE_PROCESS_QUEUE in held:
            return replace(self._limits, created_max_bytes=self._large_task_bytes)
        return self._limits


async def _wait_any(*events: asyncio.Event, seconds: float | None) -> None:
    """Return when any event is set or after `seconds` (None: no time limit)."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
