"""Submitting results over one long-lived stream and settling each delivery by its ack.

Why a FIFO: the task service answers one ack per result, in the order sent, so the
oldest unacknowledged result is always the one an ack is about. Everything not yet
acknowledged stays in `_in_flight` with its delivery, unacked at the broker. When the
stream breaks, a new stream starts by sending all of them again, in the same order
(the task service treats a repeat as ACCEPTED), and new results follow behind them.
Nothing is acked that the task service did not accept.

Why bounded messages: results go out in stream messages of at most `message_bytes`
of binary code (at least one result each), the first send and every resend alike. One
message holding everything unacknowledged grew past the task service's receive limit
at the documented maximum (1,000 x 512 KiB codes), was refused, sent again after the
reconnect, refused again, forever. A result that is alone in its message and still
refused as too large can never be delivered: it is dead-lettered, and the rest flows on.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pyservices.common.backoff import backoff_delay
from pyservices.common.logging import get_logger
from pyservices.worker import metrics
from pyservices.worker.domain import (
    AckStatus,
    DeadLetterReason,
    ProcessedResult,
    ResultAck,
    ResultTooLarge,
    StreamBroken,
)
from pyservices.worker.flow import HeldBytes
from pyservices.worker.ports import Delivery, ResultStream, TaskService

log = get_logger(__name__)

# A stream that lived this long was a success: the next failure backs off from the start.
STABLE_AFTER_SECONDS = 1.0
# Binary code per stream message: far under the task service's receive limit (64 MiB).
MESSAGE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Pending:
    delivery: Delivery
    result: ProcessedResult


class ResultSubmitter:
    def __init__(
        self,
        service: TaskService,
        *,
        backoff_cap: float = 5.0,
        message_bytes: int = MESSAGE_BYTES,
        held: HeldBytes | None = None,
    ) -> None:
        self._service = service
        self._backoff_cap = backoff_cap
        self._message_bytes = max(1, message_bytes)
        # After a refusal as too large, one result per message finds the culprit.
        self._one_per_message = False
        self._held = held or HeldBytes(1 << 62)
        self._in_flight: collections.deque[Pending] = collections.deque()
        self._unsent: list[ProcessedResult] = []  # always a tail of _in_flight
        self._have_unsent = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self.connected = False
        self.failures = 0

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def submit(self, items: Iterable[Pending]) -> None:
        """Queue results to send; each delivery is settled when its ack arrives."""
        for item in items:
            self._in_flight.append(item)
            self._unsent.append(item.result)
            self._held.add(len(item.result.binary_code))
        if self._in_flight:
            self._drained.clear()
            self._have_unsent.set()

    async def drained(self) -> None:
        """Return once every submitted result has been answered."""
        await self._drained.wait()

    async def run(self, stop: asyncio.Event) -> None:
        """Keep one stream open until `stop`, reopening it with backoff when it breaks."""
        attempt = 0
        while not stop.is_set():
            opened = time.monotonic()
            try:
                stream = await self._service.open_stream()
                try:
                    self.connected = True
                    # Everything unacknowledged goes (again) first, in order.
                    self._unsent = [item.result for item in self._in_flight]
                    self._have_unsent.set()
                    await self._pump(stream, stop)
                finally:
                    self.connected = False
                    await stream.close()
            except ResultTooLarge as exc:
                await self._on_too_large(exc)
                await _sleep_unless(stop, backoff_delay(1))  # no tight loop, whatever it was
                continue
            except Exception as exc:  # StreamBroken, or anything else: never stop retrying
                attempt = 1 if time.monotonic() - opened > STABLE_AFTER_SECONDS else attempt + 1
                self.failures += 1
                delay = backoff_delay(attempt, cap=self._backoff_cap)
                log.warning(
                    "result_stream_broken",
                    error=repr(exc),
                    in_flight=len(self._in_flight),
                    retry_in=delay,
                )
                await _sleep_unless(stop, delay)

    async def _on_too_large(self, exc: ResultTooLarge) -> None:
        """First retry with one result per message; if the oldest result alone is still
        too large, it can never be delivered: dead-letter it and go on with the rest."""
        self.failures += 1
        if not self._one_per_message:
            self._one_per_message = True
            log.warning("result_message_too_large", error=repr(exc), retry="one per message")
            return
        if self._in_flight:
            item = self._in_flight.popleft()
            self._release(item)
            size = len(item.result.binary_code)
            await dead_letter(
                item.delivery,
                DeadLetterReason.TOO_LARGE,
                f"a result of {size} bytes is over the task service's message limit",
                task_id=item.result.task_id,
            )
            if not self._in_flight:
                self._drained.set()

    async def _pump(self, stream: ResultStream, stop: asyncio.Event) -> None:
        """Write and read concurrently until the stream breaks (raises) or `stop` is set."""
        workers = [
            asyncio.create_task(self._write(stream)),
            asyncio.create_task(self._read(stream)),
            asyncio.create_task(stop.wait()),
        ]
        try:
            done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # re-raise StreamBroken
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _write(self, stream: ResultStream) -> None:
        while True:
            await self._have_unsent.wait()
            self._have_unsent.clear()
            if self._one_per_message:
                # Stop and wait: the oldest result alone, and nothing more until its ack,
                # so that a refusal names its culprit.
                if len(self._unsent) == len(self._in_flight):
                    batch, self._unsent = self._unsent[:1], self._unsent[1:]
                    await stream.send(batch)
                continue
            batch, self._unsent = self._unsent, []
            for chunk in chunks_by_bytes(batch, self._message_bytes):
                await stream.send(chunk)

    async def _read(self, stream: ResultStream) -> None:
        while True:
            ack = await stream.receive()
            if not self._in_flight:
                raise StreamBroken(f"an ack for {ack.task_id} with nothing in flight")
            if self._in_flight[0].result.task_id != ack.task_id:
                expected = self._in_flight[0].result.task_id
                raise StreamBroken(f"ack for {ack.task_id} while {expected} was next")
            self.failures = 0
            if self._one_per_message:
                self._one_per_message = False  # the oldest went through: chunks again
                if self._unsent:
                    self._have_unsent.set()
            item = self._in_flight.popleft()
            self._release(item)
            await _settle(item, ack)
            if not self._in_flight:
                self._drained.set()

    def _release(self, item: Pending) -> None:
        self._held.remove(len(item.result.binary_code))


def chunks_by_bytes(results: list[ProcessedResult], limit: int) -> Iterator[list[ProcessedResult]]:
    """Consecutive runs of results of at most `limit` bytes of code (at least one each)."""
    chunk: list[ProcessedResult] = []
    size = 0
    for result in results:
        length = len(result.binary_code)
        if chunk and size + length > limit:
            yield chunk
            chunk, size = [], 0
        chunk.append(result)
        size += length
    if chunk:
        yield chunk


async def _settle(item: Pending, ack: ResultAck) -> None:
    if ack.status is AckStatus.ACCEPTED:
        await item.delivery.ack()
        metrics.TASKS_PROCESSED.inc()
        return
    reason = DeadLetterReason.NOT_FOUND
    if ack.status is AckStatus.INVALID:
        reason = DeadLetterReason.INVALID
    await dead_letter(item.delivery, reason, ack.detail, task_id=ack.task_id)


async def dead_letter(
    delivery: Delivery, reason: DeadLetterReason, detail: str, task_id: str | None = None
) -> None:
    await delivery.reject()
    if delivery.with_others:  # its message went back, to come back one per task
        log.info("task_refused_in_batch", task_id=task_id, reason=reason.value, detail=detail)
        return
    metrics.DEAD_LETTERED.labels(reason=reason.value).inc()
    log.warning("task_dead_lettered", task_id=task_id, reason=reason.value, detail=detail)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
