"""Fakes at the worker's ports: deliveries, a converter, a scripted task service."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from prometheus_client import REGISTRY

from pyservices.common.events import MalformedEvent, TaskCreated, join_created, split_created
from pyservices.worker.adapters.rabbitmq import BatchMessage, TaskOfBatch
from pyservices.worker.domain import (
    AckStatus,
    ProcessedResult,
    ResultAck,
    ResultTooLarge,
    StreamBroken,
)
from pyservices.worker.ports import (
    Converter,
    Delivery,
    DeliverySource,
    ResultStream,
    TaskService,
)


def dead_lettered(reason: str) -> float:
    """The worker's dead-letter counter for `reason`, as it stands."""
    labels = {"reason": reason}
    return REGISTRY.get_sample_value("binconv_worker_dead_lettered_total", labels) or 0.0


async def settled(*deliveries: FakeDelivery) -> None:
    for delivery in deliveries:
        await asyncio.wait_for(delivery.settled.wait(), 2)


def task_body(task_id: str, message: str = "A") -> bytes:
    return TaskCreated(task_id, message, datetime(2026, 1, 1, tzinfo=UTC)).to_json()


class FakeDelivery(Delivery):
    """Counts its settlements; from a FakeDeliverySource, the first one also settles it
    there (a later one, or any once the source is disconnected, changes nothing)."""

    def __init__(
        self,
        body: bytes,
        source: FakeDeliverySource | None = None,
        headers: Mapping[str, object] | None = None,
        redelivered: bool = False,
        *,
        batch: bool = False,
    ) -> None:
        self.body = body
        self._headers = headers or {}
        self._redelivered = redelivered
        self.batch = batch  # a message of several tasks, handed over one per task
        self.acks = 0
        self.rejects = 0
        self.settled = asyncio.Event()
        self._source = source

    @property
    def headers(self) -> Mapping[str, object]:
        return self._headers

    @property
    def redelivered(self) -> bool:
        return self._redelivered

    async def ack(self) -> None:
        self.acks += 1
        self._settle(dead=False)

    async def reject(self) -> None:
        self.rejects += 1
        self._settle(dead=True)

    async def requeue(self) -> None:
        """Back to the front of the queue, delivered again soon (as the broker does)."""
        source = self._source
        if source is not None and not self.settled.is_set() and source.connected:
            source.unsettled.remove(self)
            source.queued.appendleft((self.body, self._headers, True, self.batch))
            asyncio.get_running_loop().call_soon(source._hand_over)
        self.settled.set()

    def _settle(self, *, dead: bool) -> None:
        source = self._source
        if source is not None and not self.settled.is_set() and source.connected:
            source.unsettled.remove(self)
            if dead:
                source.dead.append(self.body)
        self.settled.set()


class FakeConverter(Converter):
    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.calls: list[list[str]] = []
        self.refuse = refuse

    def encode_many(self, messages: list[str]) -> list[str]:
        self.calls.append(list(messages))
        if self.refuse.intersection(messages):
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        return ["".join(f"{b:08b}" for b in m.encode()) for m in messages]


class FakeStream(ResultStream):
    """Answers each result with the service's verdict, unless `hold` keeps them back."""

    def __init__(self, service: FakeTaskService) -> None:
        self._service = service
        self.sent: list[ProcessedResult] = []
        self.messages: list[list[str]] = []  # the task ids of each stream message
        self.answers: asyncio.Queue[ResultAck | StreamBroken] = asyncio.Queue()
        self.broken: StreamBroken | None = None
        self.closed = False

    async def send(self, results: Sequence[ProcessedResult]) -> None:
        if self.broken is not None:
            raise StreamBroken(f"send on a finished stream: {self.broken}")
        size = sum(len(result.binary_code) for result in results)
        if size > self._service.max_message_bytes:  # gRPC's RESOURCE_EXHAUSTED
            self.answers.put_nowait(ResultTooLarge(f"{size} bytes over the limit"))
            return
        self.messages.append([result.task_id for result in results])
        for result in results:
            self.sent.append(result)
            self._service.arrived.put_nowait(result)
            if not self._service.hold:
                self.answer(result.task_id)

    def answer(self, task_id: str, status: AckStatus | None = None) -> None:
        verdict = status or self._service.verdicts.get(task_id, AckStatus.ACCEPTED)
        self.answers.put_nowait(ResultAck(task_id, verdict))

    def fail(self) -> None:
        self.answers.put_nowait(StreamBroken("connection reset"))

    async def receive(self) -> ResultAck:
        if self.broken is not None:  # like a finished gRPC call: over for good
            raise self.broken
        answer = await self.answers.get()
        if isinstance(answer, StreamBroken):
            self.broken = answer
            raise answer
        return answer

    async def close(self) -> None:
        self.closed = True
        if self.broken is None:
            self.broken = StreamBroken("the stream was closed")
            self.answers.put_nowait(self.broken)  # for a receive already waiting


class FakeTaskService(TaskService):
    def __init__(self, verdicts: dict[str, AckStatus] | None = None) -> None:
        self.verdicts = verdicts or {}
        self.hold = False
        self.max_message_bytes = 1 << 62
        self.unavailable = 0  # how many opens fail before one succeeds
        self.streams: list[FakeStream] = []
        self.opened = asyncio.Queue[FakeStream]()
        self.arrived: asyncio.Queue[ProcessedResult] = asyncio.Queue()
        self.reachable = True  # what `ping` answers

    async def ping(self) -> bool:
        return self.reachable and not self.unavailable

    async def open_stream(self) -> ResultStream:
        if self.unavailable:
            self.unavailable -= 1
            raise StreamBroken("UNAVAILABLE")
        stream = FakeStream(self)
        self.streams.append(stream)
        self.opened.put_nowait(stream)
        return stream


class FakeDeliverySource(DeliverySource):
    """An in-memory queue: what is published is handed over while consuming; a delivery
    rejected is dead-lettered; one unsettled when the connection goes is queued again."""

    def __init__(self) -> None:
        self.paused = False
        self.changes: list[str] = []
        # Each queued message: its body, its headers, whether it was delivered before,
        # whether it is a batch of several tasks.
        self.queued: collections.deque[tuple[bytes, Mapping[str, object], bool, bool]] = (
            collections.deque()
        )
        self.unsettled: list[FakeDelivery] = []
        self.dead: list[bytes] = []
        self.connected = True
        self.stopped = False
        self._on_delivery: Callable[[Delivery], None] | None = None

    async def start(self, on_delivery: Callable[[Delivery], None]) -> None:
        self._on_delivery = on_delivery
        self._hand_over()

    @property
    def consuming(self) -> bool:
        return self._on_delivery is not None and not self.paused

    async def pause(self) -> None:
        self.paused = True
        self.changes.append("pause")

    async def resume(self) -> None:
        if self.stopped:
            return
        self.paused = False
        self.changes.append("resume")
        self._hand_over()

    async def ping(self) -> bool:
        return self.connected

    async def stop(self) -> None:
        self.stopped = self.paused = True

    async def close(self) -> None:
        await self.stop()
        self.disconnect()

    def publish(self, *bodies: bytes, headers: Mapping[str, object] | None = None) -> None:
        self.queued.extend((body, headers or {}, False, False) for body in bodies)
        self._hand_over()

    def publish_batch(self, *bodies: bytes) -> None:
        """One message carrying these tasks (`task.created.batch`)."""
        self.queued.append((join_created(bodies), {}, False, True))
        self._hand_over()

    def disconnect(self) -> None:
        """The connection is gone for good: what it held unsettled is queued again."""
        self.connected = False
        self.queued.extendleft(
            reversed([(d.body, d.headers, True, d.batch) for d in self.unsettled])
        )
        self.unsettled.clear()

    def _hand_over(self) -> None:
        while self.queued and self.connected and self.consuming and self._on_delivery:
            body, headers, redelivered, batch = self.queued.popleft()
            if batch:
                self._hand_over_batch(body, headers, redelivered)
                continue
            delivery = FakeDelivery(body, self, headers, redelivered)
            self.unsettled.append(delivery)
            self._on_delivery(delivery)

    def _hand_over_batch(self, body: bytes, headers: Mapping[str, object], again: bool) -> None:
        try:
            tasks = split_created(body)
        except MalformedEvent:  # dead-lettered as it came
            self.dead.append(body)
            return
        if again:  # delivered again: split, each task queued on its own
            self.queued.extend((task, {}, False, False) for task in tasks)
            return
        whole = FakeDelivery(body, self, headers, batch=True)
        self.unsettled.append(whole)
        # Settled through the adapter's own bookkeeping: what is faked is the broker.
        batch = BatchMessage(whole, len(tasks))
        for task in tasks:
            assert self._on_delivery is not None
            self._on_delivery(TaskOfBatch(batch, task, headers))
