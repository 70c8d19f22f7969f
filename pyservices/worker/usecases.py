"""The worker's use cases: take what has arrived, convert it in one call, submit the results."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from opentelemetry import trace

from pyservices.common import tracing
from pyservices.common.events import MalformedEvent, TaskCreated
from pyservices.common.logging import get_logger
from pyservices.worker import metrics
from pyservices.worker.domain import DeadLetterReason, ProcessedResult
from pyservices.worker.flow import CountedDelivery, HeldBytes
from pyservices.worker.ports import Converter, Delivery
from pyservices.worker.results import Pending, ResultSubmitter, dead_letter

log = get_logger(__name__)
tracer = tracing.tracer(__name__)
# A quorum queue counts the earlier deliveries of a message it delivers again.
DELIVERY_COUNT_HEADER = "x-delivery-count"


# Body bytes converted in one call: its codes are 8x that, held until acknowledged.
BATCH_BYTES = 1024 * 1024


async def take_batch(
    inbox: asyncio.Queue[Delivery], limit: int, max_bytes: int = BATCH_BYTES
) -> list[Delivery]:
    """Wait for one delivery, then take whatever else has already arrived, up to `limit`
    deliveries and until the bodies reach `max_bytes` (so at most one body over it)."""
    batch = [await inbox.get()]
    size = len(batch[0].body)
    while len(batch) < limit and size < max_bytes and not inbox.empty():
        batch.append(inbox.get_nowait())
        size += len(batch[-1].body)
    return batch


async def process_batch(
    deliveries: Sequence[Delivery], converter: Converter, submitter: ResultSubmitter
) -> None:
    """Parse each body, convert all messages in one call, and hand the results on."""
    metrics.BATCH_SIZE.observe(len(deliveries))
    parsed: list[tuple[Delivery, TaskCreated]] = []
    for delivery in deliveries:
        try:
            parsed.append((delivery, TaskCreated.from_json(delivery.body)))
        except MalformedEvent as exc:
            await dead_letter(delivery, DeadLetterReason.MALFORMED, str(exc))
    if not parsed:
        return
    # A `task.process receive` span per delivery that carried a trace (None for the
    # others, and for all while tracing is off: nothing more is done per task then).
    received: list[tracing.Span | None] = (
        [receive_span(delivery, event) for delivery, event in parsed]
        if tracing.enabled()
        else [None] * len(parsed)
    )
    try:
        await _convert(parsed, converter, submitter, received)
    finally:  # ended however the batch went (a dead-letter that failed, a cancel)
        for span in received:
            if span is not None:
                span.end()


async def _convert(
    parsed: list[tuple[Delivery, TaskCreated]],
    converter: Converter,
    submitter: ResultSubmitter,
    received: list[tracing.Span | None],
) -> None:
    """Convert every message in one call and hand the results on; an unconvertible one
    is dead-lettered. A traced task's `convert` span is that one call, under its receive
    span, whose context the result carries to the task service."""
    started, started_ns = time.perf_counter(), time.time_ns()
    codes = convert(converter, [event.message for _, event in parsed])
    ended_ns = time.time_ns()
    metrics.CONVERSION_SECONDS.observe(time.perf_counter() - started)
    ready = []
    for (delivery, event), code, span in zip(parsed, codes, received, strict=True):
        context = ""
        if span is not None:
            _convert_span(span, event.id, len(delivery.body), code, started_ns, ended_ns)
            context = tracing.traceparent(span) or ""
        if code is None:
            await dead_letter(
                delivery, DeadLetterReason.UNCONVERTIBLE, "no UTF-8 form", task_id=event.id
            )
        else:
            ready.append(Pending(delivery, ProcessedResult(event.id, code, context)))
    submitter.submit(ready)


def _convert_span(
    received: tracing.Span,
    task_id: str,
    body_bytes: int,
    code: str | None,
    started_ns: int,
    ended_ns: int,
) -> None:
    converting = tracer.start_span(
        "convert",
        trace.set_span_in_context(received),
        start_time=started_ns,
        attributes={"binconv.task.id": task_id, "binconv.bytes": body_bytes},
    )
    if code is None:
        converting.set_status(tracing.StatusCode.ERROR, "no UTF-8 form")
        received.set_attribute("binconv.dead_lettered", DeadLetterReason.UNCONVERTIBLE.value)
    else:
        converting.set_attribute("binconv.binary_bytes", len(code))
    converting.end(ended_ns)


def receive_span(delivery: Delivery, event: TaskCreated) -> tracing.Span | None:
    """The consumer span of one delivery, continued from its `traceparent` header; None
    when it has none."""
    headers = delivery.headers
    parent = tracing.context_of(tracing.header_text(headers, tracing.TRACEPARENT))
    if parent is None:
        return None
    count = headers.get(DELIVERY_COUNT_HEADER)
    attributes: dict[str, str | int | float | bool] = {
        "binconv.task.id": event.id,
        "messaging.rabbitmq.redelivered": delivery.redelivered,
        "binconv.delivery_count": count if isinstance(count, int) else 0,
        "binconv.bytes": len(delivery.body),
    }
    published = headers.get(tracing.PUBLISHED_AT_MS)
    if isinstance(published, int):
        attributes["binconv.queue.wait_ms"] = max(0, time.time_ns() // 1_000_000 - published)
    return tracer.start_span(
        "task.process receive", parent, kind=tracing.SpanKind.CONSUMER, attributes=attributes
    )


def convert(converter: Converter, messages: list[str]) -> list[str | None]:
    """All codes from one call; if the batch fails, one call each to find the culprits."""
    try:
        return list(converter.encode_many(messages))
    except Exception:  # one bad message must not hold back the rest
        return [_convert_one(converter, message) for message in messages]


def _convert_one(converter: Converter, message: str) -> str | None:
    try:
        return converter.encode_many([message])[0]
    except Exception:  # e.g. UnicodeEncodeError for a lone surrogate
        return None


class TaskProcessor:
    """Deliveries in (from the consumer), batches through conversion to the submitter."""

    def __init__(
        self,
        converter: Converter,
        submitter: ResultSubmitter,
        batch_max: int,
        *,
        batch_bytes: int = BATCH_BYTES,
        held: HeldBytes | None = None,
    ) -> None:
        self._converter = converter
        self._submitter = submitter
        self._batch_max = batch_max
        self._batch_bytes = batch_bytes
        self._held = held
        self.inbox: asyncio.Queue[Delivery] = asyncio.Queue()

    def receive(self, delivery: Delivery) -> None:
        if self._held is not None:
            delivery = CountedDelivery(delivery, self._held)
        self.inbox.put_nowait(delivery)

    async def run(self) -> None:
        while True:
            if self._held is not None:  # no more code made while over the byte budget
                await self._held.room(lambda: self._submitter.in_flight > 0)
            batch = await take_batch(self.inbox, self._batch_max, self._batch_bytes)
            try:
                await process_batch(batch, self._converter, self._submitter)
            except Exception:  # unsettled deliveries return to the queue on reconnect
                log.exception("batch_failed", size=len(batch))
            finally:
                for _ in batch:
                    self.inbox.task_done()

    async def drained(self) -> None:
        """Return once nothing is waiting to be converted or answered."""
        await self.inbox.join()
        await self._submitter.drained()
