from __future__ import annotations

import asyncio

import pytest

from pyservices.worker.domain import AckStatus
from pyservices.worker.ports import Delivery
from pyservices.worker.results import ResultSubmitter
from pyservices.worker.usecases import TaskProcessor, process_batch, take_batch
from tests.contracts.delivery_source import until_equal
from tests.unit.worker.worker_fakes import (
    FakeConverter,
    FakeDelivery,
    FakeDeliverySource,
    FakeTaskService,
    dead_lettered,
    settled,
    task_body,
)


class TestProcessBatch:
    async def test_acks_a_delivery_only_after_the_task_service_accepted_it(
        self, service: FakeTaskService, submitter: ResultSubmitter
    ) -> None:
        service.hold = True
        delivery = FakeDelivery(task_body("t1", "A"))

        await process_batch([delivery], FakeConverter(), submitter)
        sent = await asyncio.wait_for(service.arrived.get(), 2)

        assert (sent.task_id, sent.binary_code) == ("t1", "01000001")
        assert delivery.acks == 0
        service.streams[-1].answer("t1")
        await settled(delivery)
        assert (delivery.acks, delivery.rejects) == (1, 0)

    @pytest.mark.parametrize("status", [AckStatus.NOT_FOUND, AckStatus.INVALID])
    async def test_dead_letters_what_the_task_service_refuses(
        self, service: FakeTaskService, submitter: ResultSubmitter, status: AckStatus
    ) -> None:
        service.verdicts["gone"] = status
        before = dead_lettered(status.value)
        refused, fine = FakeDelivery(task_body("gone")), FakeDelivery(task_body("ok"))

        await process_batch([refused, fine], FakeConverter(), submitter)
        await settled(refused, fine)

        assert (refused.acks, refused.rejects) == (0, 1)
        assert (fine.acks, fine.rejects) == (1, 0)
        assert dead_lettered(status.value) - before == 1

    @pytest.mark.parametrize(
        "body", [b"not json", b"[]", b'{"id": 1}', b'{"id":"x","message":"m"}']
    )
    async def test_dead_letters_a_body_that_is_not_a_task_at_once(
        self, service: FakeTaskService, submitter: ResultSubmitter, body: bytes
    ) -> None:
        garbage = FakeDelivery(body)

        await process_batch([garbage], FakeConverter(), submitter)

        assert (garbage.acks, garbage.rejects) == (0, 1)
        assert service.arrived.empty()

    async def test_dead_letters_a_message_it_cannot_convert_and_converts_the_rest(
        self, submitter: ResultSubmitter
    ) -> None:
        before = dead_lettered("unconvertible")
        bad, good = FakeDelivery(task_body("s", "poison")), FakeDelivery(task_body("g", "é"))

        await process_batch([bad, good], FakeConverter(refuse=frozenset({"poison"})), submitter)
        await settled(bad, good)

        assert (bad.rejects, good.acks) == (1, 1)
        assert dead_lettered("unconvertible") - before == 1

    async def test_a_poison_task_in_a_message_of_several_is_dead_lettered_alone_counted_once(
        self, submitter: ResultSubmitter
    ) -> None:
        before = dead_lettered("unconvertible")
        source = FakeDeliverySource()
        processor = TaskProcessor(FakeConverter(refuse=frozenset({"poison"})), submitter, 256)
        running = asyncio.create_task(processor.run())
        await source.start(processor.receive)
        poison = task_body("p", "poison")

        source.publish_batch(task_body("a"), poison, task_body("b"))

        async def left() -> tuple[int, int, list[bytes]]:
            return len(source.queued), len(source.unsettled), source.dead

        # Refused in the batch, the message goes back and comes back one per task.
        await until_equal(left, (0, 0, [poison]))
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)

        assert dead_lettered("unconvertible") - before == 1

    async def test_converts_a_whole_batch_in_one_call(self, submitter: ResultSubmitter) -> None:
        converter = FakeConverter()
        deliveries = [FakeDelivery(task_body(f"t{i}", f"m{i}")) for i in range(5)]

        await process_batch(deliveries, converter, submitter)
        await settled(*deliveries)

        assert converter.calls == [[f"m{i}" for i in range(5)]]


class TestResultStream:
    async def test_sends_results_in_order_over_one_stream(
        self, service: FakeTaskService, submitter: ResultSubmitter
    ) -> None:
        deliveries = [FakeDelivery(task_body(f"t{i}")) for i in range(10)]

        for delivery in deliveries:
            await process_batch([delivery], FakeConverter(), submitter)
        await settled(*deliveries)

        assert len(service.streams) == 1
        assert [r.task_id for r in service.streams[0].sent] == [f"t{i}" for i in range(10)]

    async def test_resends_everything_unanswered_on_a_new_stream_after_a_break(
        self, service: FakeTaskService, submitter: ResultSubmitter
    ) -> None:
        service.hold = True
        deliveries = [FakeDelivery(task_body(f"t{i}")) for i in range(3)]
        await process_batch(deliveries, FakeConverter(), submitter)
        first = await asyncio.wait_for(service.opened.get(), 2)
        for _ in deliveries:
            await asyncio.wait_for(service.arrived.get(), 2)
        first.answer("t0")
        await settled(deliveries[0])

        service.hold = False
        first.fail()
        second = await asyncio.wait_for(service.opened.get(), 2)
        await settled(*deliveries)

        assert first.closed
        assert [r.task_id for r in second.sent] == ["t1", "t2"]
        assert [d.acks for d in deliveries] == [1, 1, 1]

    async def test_keeps_deliveries_unacked_while_the_task_service_is_down(
        self, service: FakeTaskService
    ) -> None:
        service.unavailable = 3
        subject = ResultSubmitter(service, backoff_cap=0.05)
        delivery = FakeDelivery(task_body("t1"))
        await process_batch([delivery], FakeConverter(), subject)
        assert not subject.connected

        stop = asyncio.Event()
        running = asyncio.create_task(subject.run(stop))
        try:
            await settled(delivery)
            assert subject.failures == 0  # an accepted result clears the failure count
            assert delivery.acks == 1
        finally:
            stop.set()
            await asyncio.wait_for(running, 2)

    async def test_an_ack_out_of_order_breaks_the_stream_and_everything_goes_again(
        self, service: FakeTaskService, submitter: ResultSubmitter
    ) -> None:
        service.hold = True
        a, b = FakeDelivery(task_body("a")), FakeDelivery(task_body("b"))
        await process_batch([a, b], FakeConverter(), submitter)
        first = await asyncio.wait_for(service.opened.get(), 2)
        for _ in (a, b):
            await asyncio.wait_for(service.arrived.get(), 2)

        service.hold = False
        first.answer("b")
        second = await asyncio.wait_for(service.opened.get(), 2)
        await settled(a, b)

        assert [r.task_id for r in second.sent] == ["a", "b"]
        assert (a.acks, b.acks) == (1, 1)


class TestBatching:
    async def test_takes_what_has_arrived_up_to_the_limit(self) -> None:
        inbox: asyncio.Queue[Delivery] = asyncio.Queue()
        for i in range(5):
            inbox.put_nowait(FakeDelivery(task_body(f"t{i}")))

        assert len(await take_batch(inbox, 3)) == 3
        assert len(await take_batch(inbox, 3)) == 2

    async def test_waits_for_the_first_delivery_then_does_not_wait_for_more(self) -> None:
        inbox: asyncio.Queue[Delivery] = asyncio.Queue()
        taking = asyncio.create_task(take_batch(inbox, 100))
        await asyncio.sleep(0)
        assert not taking.done()

        inbox.put_nowait(FakeDelivery(task_body("t0")))

        assert len(await asyncio.wait_for(taking, 1)) == 1

    async def test_the_processor_is_drained_once_everything_taken_was_answered(
        self, service: FakeTaskService, submitter: ResultSubmitter
    ) -> None:
        processor = TaskProcessor(FakeConverter(), submitter, batch_max=4)
        running = asyncio.create_task(processor.run())
        deliveries = [FakeDelivery(task_body(f"t{i}")) for i in range(10)]
        try:
            for delivery in deliveries:
                processor.receive(delivery)

            await asyncio.wait_for(processor.drained(), 2)

            assert all(d.acks == 1 for d in deliveries)
        finally:
            running.cancel()
