"""The worker's byte bounds: batches, stream messages, an undeliverable result, and
pausing consumption while it holds more than its budget."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest

from pyservices.worker.domain import ProcessedResult
from pyservices.worker.flow import HeldBytes, control_flow
from pyservices.worker.ports import Delivery
from pyservices.worker.results import ResultSubmitter, chunks_by_bytes
from pyservices.worker.usecases import TaskProcessor, process_batch, take_batch
from tests.unit.worker.worker_fakes import (
    FakeConverter,
    FakeDelivery,
    FakeDeliverySource,
    FakeTaskService,
    dead_lettered,
    settled,
    task_body,
)


async def until(condition: Callable[[], bool], seconds: float = 2.0) -> None:
    for _ in range(int(seconds / 0.005)):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the condition did not come true in time")


@contextlib.asynccontextmanager
async def flowing(held: HeldBytes, source: FakeDeliverySource) -> AsyncIterator[None]:
    """`control_flow` running for the block."""
    stop = asyncio.Event()
    task = asyncio.create_task(control_flow(held, source, stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 2)


@contextlib.asynccontextmanager
async def lane(
    service: FakeTaskService, held: HeldBytes, converter: FakeConverter, batch_max: int
) -> AsyncIterator[TaskProcessor]:
    """A submitter and a processor sharing `held`, running for the block."""
    stop = asyncio.Event()
    submitter = ResultSubmitter(service, backoff_cap=0.05, held=held)
    running = asyncio.create_task(submitter.run(stop))
    processor = TaskProcessor(converter, submitter, batch_max=batch_max, held=held)
    processing = asyncio.create_task(processor.run())
    try:
        yield processor
    finally:
        processing.cancel()
        stop.set()
        await asyncio.wait_for(running, 2)


@pytest.fixture
def service() -> FakeTaskService:
    return FakeTaskService()


@pytest.fixture
def held() -> HeldBytes:
    return HeldBytes(1 << 62)


@pytest.fixture
async def submitter(service: FakeTaskService, held: HeldBytes) -> AsyncIterator[ResultSubmitter]:
    stop = asyncio.Event()
    # 16 bytes of code a message: two one-character results.
    subject = ResultSubmitter(service, backoff_cap=0.05, message_bytes=16, held=held)
    running = asyncio.create_task(subject.run(stop))
    yield subject
    stop.set()
    await asyncio.wait_for(running, 2)


def result(task_id: str, size: int) -> ProcessedResult:
    return ProcessedResult(task_id, "0" * size)


class TestChunks:
    def test_a_chunk_holds_at_most_the_limit_and_at_least_one_result(self) -> None:
        results = [result("a", 6), result("b", 6), result("c", 20), result("d", 1)]

        chunks = [[r.task_id for r in chunk] for chunk in chunks_by_bytes(results, 12)]

        assert chunks == [["a", "b"], ["c"], ["d"]]


class TestBoundedStreamMessages:
    async def test_results_go_in_messages_within_the_byte_limit(
        self, service: FakeTaskService, submitter: ResultSubmitter
    ) -> None:
        deliveries = [FakeDelivery(task_body(f"t{i}", "A")) for i in range(5)]

        await process_batch(deliveries, FakeConverter(), submitter)
        await settled(*deliveries)

        assert service.streams[0].messages == [["t0", "t1"], ["t2", "t3"], ["t4"]]

    async def test_a_resend_after_a_break_obeys_the_same_limit(
        self, service: FakeTaskService, submitter: ResultSubmitter
    ) -> None:
        service.hold = True
        deliveries = [FakeDelivery(task_body(f"t{i}", "A")) for i in range(5)]
        await process_batch(deliveries, FakeConverter(), submitter)
        first = await asyncio.wait_for(service.opened.get(), 2)
        await until(lambda: len(first.sent) == 5)

        service.hold = False
        first.fail()
        second = await asyncio.wait_for(service.opened.get(), 2)
        await settled(*deliveries)

        assert second.messages == [["t0", "t1"], ["t2", "t3"], ["t4"]]

    async def test_a_result_too_large_for_the_service_is_dead_lettered_and_the_rest_flow(
        self, service: FakeTaskService, submitter: ResultSubmitter, held: HeldBytes
    ) -> None:
        service.max_message_bytes = 16  # a 3-byte message's code (24 bytes) never fits
        before = dead_lettered("too_large")
        small = [FakeDelivery(task_body(f"s{i}", "A")) for i in range(3)]
        huge = FakeDelivery(task_body("huge", "ABC"))

        await process_batch([small[0], huge, *small[1:]], FakeConverter(), submitter)
        await settled(huge, *small)

        assert (huge.acks, huge.rejects) == (0, 1)
        assert [d.acks for d in small] == [1, 1, 1]
        assert dead_lettered("too_large") - before == 1
        assert held.held == 0


class TestBatchBytes:
    async def test_a_batch_stops_once_its_bodies_reach_the_byte_limit(self) -> None:
        inbox: asyncio.Queue[Delivery] = asyncio.Queue()
        for i in range(5):
            inbox.put_nowait(FakeDelivery(b"x" * 100 + str(i).encode()))

        sizes = [len(await take_batch(inbox, 100, max_bytes=150)) for _ in range(3)]

        assert sizes == [2, 2, 1]


class TestHeldBytes:
    async def test_bodies_and_codes_count_until_settled(self, service: FakeTaskService) -> None:
        held = HeldBytes(1 << 20)
        service.hold = True
        delivery = FakeDelivery(task_body("t0", "AB"))
        async with lane(service, held, FakeConverter(), batch_max=8) as processor:
            processor.receive(delivery)
            stream = await asyncio.wait_for(service.opened.get(), 2)
            await until(lambda: len(stream.sent) == 1)
            assert held.held == len(delivery.body) + 16

            stream.answer("t0")
            await settled(delivery)
            assert held.held == 0

    async def test_consumption_pauses_over_the_budget_and_resumes_under_half(self) -> None:
        held = HeldBytes(100)
        source = FakeDeliverySource()
        await source.start(lambda _: None)
        async with flowing(held, source):
            held.add(90)
            await asyncio.sleep(0.01)
            assert source.changes == []

            held.add(20)
            await until(lambda: source.paused)
            held.remove(40)  # 70: under the budget, not yet under half of it
            await asyncio.sleep(0.01)
            assert source.paused

            held.remove(30)
            await until(lambda: not source.paused)
            assert source.changes == ["pause", "resume"]

    async def test_nothing_more_is_converted_while_over_the_budget(
        self, service: FakeTaskService
    ) -> None:
        held = HeldBytes(20)  # one result of 16 bytes of code, and its body, pass it
        service.hold = True
        converter = FakeConverter()
        first, second = FakeDelivery(task_body("t0", "AB")), FakeDelivery(task_body("t1", "CD"))
        async with lane(service, held, converter, batch_max=1) as processor:
            processor.receive(first)
            processor.receive(second)
            stream = await asyncio.wait_for(service.opened.get(), 2)
            await until(lambda: len(stream.sent) == 1)
            await asyncio.sleep(0.01)
            assert converter.calls == [["AB"]]  # the second waits for room

            stream.answer("t0")
            await until(lambda: len(stream.sent) == 2)
            stream.answer("t1")
            await settled(first, second)
            assert converter.calls == [["AB"], ["CD"]]

    async def test_a_pause_that_failed_half_way_is_put_right(self) -> None:
        class ForgetfulSource(FakeDeliverySource):
            async def pause(self) -> None:  # the consumer is gone, the answer never came
                self.paused = True
                raise ConnectionError("channel closed")

        held = HeldBytes(100)
        source = ForgetfulSource()
        await source.start(lambda _: None)
        async with flowing(held, source):
            held.add(110)
            await until(lambda: source.paused)
            held.remove(100)  # back under the budget before anything else happened

            await until(lambda: not source.paused)
            assert source.changes == ["resume"]
