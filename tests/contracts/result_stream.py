"""The worker's TaskService and ResultStream ports' contract, run against every adapter.

A subclass supplies the adapter (`service`), one whose task service cannot be reached
(`unreachable_service`), a task id the service answers with a given status (`task_id`),
a way to take the service away mid-stream (`outage`), and the service's limit on one
stream message (`message_limit`, bytes). Each test states one promise of the
docstrings in `pyservices/worker/ports.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from pyservices.worker.domain import (
    AckStatus,
    ProcessedResult,
    ResultAck,
    ResultTooLarge,
    StreamBroken,
)
from pyservices.worker.ports import ResultStream, TaskService
from tests.contracts.collected import SECONDS

A, HI = "01000001", "0110100001101001"
TaskId = Callable[[AckStatus], Awaitable[str]]
Outage = Callable[[], Awaitable[None]]


async def acks(stream: ResultStream, count: int) -> list[tuple[str, AckStatus]]:
    async def take() -> list[tuple[str, AckStatus]]:
        return [_pair(await stream.receive()) for _ in range(count)]

    return await asyncio.wait_for(take(), SECONDS)


def _pair(ack: ResultAck) -> tuple[str, AckStatus]:
    return ack.task_id, ack.status


class ResultStreamContract:
    @pytest.fixture
    async def service(self) -> TaskService:
        raise NotImplementedError("the adapter under test, its task service up")

    @pytest.fixture
    async def unreachable_service(self) -> TaskService:
        raise NotImplementedError("the adapter, its task service out of reach")

    @pytest.fixture
    def task_id(self) -> TaskId:
        raise NotImplementedError("makes a task id the service answers with that status")

    @pytest.fixture
    def outage(self) -> Outage:
        raise NotImplementedError("takes the task service away, failing open streams")

    @pytest.fixture
    def message_limit(self) -> int:
        raise NotImplementedError("the most bytes of code one stream message may carry")

    @pytest.fixture
    async def stream(self, service: TaskService) -> AsyncIterator[ResultStream]:
        opened = await asyncio.wait_for(service.open_stream(), SECONDS)
        yield opened
        await opened.close()

    async def test_one_ack_per_result_in_the_order_sent_within_and_across_sends(
        self, stream: ResultStream, task_id: TaskId
    ) -> None:
        ids = [await task_id(AckStatus.ACCEPTED) for _ in range(7)]

        await stream.send([ProcessedResult(i, A) for i in ids[:5]])
        await stream.send([ProcessedResult(i, HI) for i in ids[5:]])

        assert await acks(stream, 7) == [(i, AckStatus.ACCEPTED) for i in ids]

    async def test_each_ack_names_the_services_verdict_on_its_result(
        self, stream: ResultStream, task_id: TaskId
    ) -> None:
        statuses = [AckStatus.NOT_FOUND, AckStatus.ACCEPTED, AckStatus.INVALID]
        ids = [await task_id(status) for status in statuses]

        await stream.send([ProcessedResult(i, A) for i in ids])

        assert await acks(stream, 3) == list(zip(ids, statuses, strict=True))

    async def test_a_result_sent_again_is_accepted_again(
        self, stream: ResultStream, task_id: TaskId
    ) -> None:
        known = await task_id(AckStatus.ACCEPTED)

        await stream.send([ProcessedResult(known, A)])
        await stream.send([ProcessedResult(known, A)])

        assert await acks(stream, 2) == [(known, AckStatus.ACCEPTED)] * 2

    async def test_sending_no_results_is_answered_by_no_ack(
        self, stream: ResultStream, task_id: TaskId
    ) -> None:
        known = await task_id(AckStatus.ACCEPTED)

        await stream.send([])
        await stream.send([ProcessedResult(known, A)])

        assert await acks(stream, 1) == [(known, AckStatus.ACCEPTED)]

    async def test_a_message_within_the_limit_is_answered(
        self, stream: ResultStream, task_id: TaskId, message_limit: int
    ) -> None:
        known = await task_id(AckStatus.ACCEPTED)

        await stream.send([ProcessedResult(known, A * (message_limit // 16))])

        assert await acks(stream, 1) == [(known, AckStatus.ACCEPTED)]

    async def test_a_message_over_the_limit_breaks_the_stream_as_too_large(
        self, stream: ResultStream, task_id: TaskId, message_limit: int
    ) -> None:
        known = await task_id(AckStatus.ACCEPTED)

        with pytest.raises(ResultTooLarge):
            await stream.send([ProcessedResult(known, A * (message_limit // 4))])
            await acks(stream, 1)

        with pytest.raises(StreamBroken):  # the stream is over: a new one is needed
            await acks(stream, 1)

    async def test_receive_raises_stream_broken_when_the_service_goes_away(
        self, stream: ResultStream, task_id: TaskId, outage: Outage
    ) -> None:
        known = await task_id(AckStatus.ACCEPTED)
        await stream.send([ProcessedResult(known, A)])
        assert await acks(stream, 1) == [(known, AckStatus.ACCEPTED)]

        await outage()

        with pytest.raises(StreamBroken):
            await acks(stream, 1)

    async def test_close_is_harmless_twice_and_after_a_break(
        self, service: TaskService, task_id: TaskId, message_limit: int
    ) -> None:
        stream = await service.open_stream()
        await stream.close()
        await stream.close()

        broken = await service.open_stream()
        with pytest.raises(ResultTooLarge):
            await broken.send([ProcessedResult("x", A * (message_limit // 4))])
            await acks(broken, 1)
        await broken.close()
        await broken.close()

        # A closed or broken stream leaves the service usable: the next stream works.
        again = await service.open_stream()
        known = await task_id(AckStatus.ACCEPTED)
        await again.send([ProcessedResult(known, A)])
        assert await acks(again, 1) == [(known, AckStatus.ACCEPTED)]
        await again.close()

    async def test_a_closed_stream_raises_stream_broken_on_receive_and_send(
        self, service: TaskService, task_id: TaskId
    ) -> None:
        stream = await service.open_stream()
        known = await task_id(AckStatus.ACCEPTED)

        await stream.close()

        with pytest.raises(StreamBroken):
            await acks(stream, 1)
        with pytest.raises(StreamBroken):
            await stream.send([ProcessedResult(known, A)])

    async def test_opening_a_stream_to_an_unreachable_service_raises_stream_broken(
        self, unreachable_service: TaskService
    ) -> None:
        with pytest.raises(StreamBroken):
            await asyncio.wait_for(unreachable_service.open_stream(), SECONDS)

    async def test_ping_is_true_with_a_stream_open_and_false_out_of_reach(
        self, service: TaskService, stream: ResultStream, unreachable_service: TaskService
    ) -> None:
        assert await service.ping()
        assert not await unreachable_service.ping()
