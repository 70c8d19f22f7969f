from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

from pyservices.common.admission import LargeRequestGate
from pyservices.task_service import usecases
from pyservices.task_service.domain import MessageLimits
from tests.unit.task_service.fakes import FakeTaskRepository

LIMITS = MessageLimits(max_messages=10, max_message_bytes=100)


async def stream(messages: Iterable[str]) -> AsyncIterator[str]:
    for message in messages:
        yield message


class TestLargeRequestGate:
    async def test_large_requests_wait_for_a_turn_and_small_ones_do_not(self) -> None:
        gate = LargeRequestGate(threshold_bytes=50, at_once=1)
        repo = FakeTaskRepository()
        async with gate.turn():  # another large request is being worked on
            large = asyncio.create_task(
                usecases.receive_tasks(stream(["x" * 40] * 2), repo, LIMITS, gate=gate)
            )
            small = await usecases.receive_tasks(stream(["x" * 40]), repo, LIMITS, gate=gate)
            await asyncio.sleep(0.01)

            assert len(small) == 1
            assert not large.done()
            assert gate.waiting == 1
        assert len(await asyncio.wait_for(large, 1)) == 2
        assert len(repo.tasks) == 3

    async def test_turns_are_given_in_order_of_arrival(self) -> None:
        gate = LargeRequestGate(threshold_bytes=0, at_once=1)
        order: list[int] = []

        async def take(n: int) -> None:
            async with gate.turn():
                order.append(n)
                await asyncio.sleep(0)

        await asyncio.gather(*(take(n) for n in range(5)))

        assert order == [0, 1, 2, 3, 4]


def test_the_allocator_is_tuned_on_glibc() -> None:
    from pyservices.common.memory import tune_allocator

    assert tune_allocator() is True
