"""The worker's DeliverySource and Delivery ports' contract, run against every adapter.

A subclass supplies the adapter (`source`, connected, not yet started, on an empty
queue), the test's own side of that queue (`queue`: publish, count what waits, see
what was dead-lettered) and a way to connect another adapter to it (`reopen`). Each
test states one promise of the docstrings in `pyservices/worker/ports.py`; `close` is
how a test takes the connection away.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Protocol, TypeVar

import pytest

from pyservices.worker.ports import Delivery, DeliverySource
from tests.contracts.collected import QUIET_SECONDS, SECONDS, Collected

T = TypeVar("T")
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
# Three tasks' events, compact JSON as the outbox stores them.
BATCH = [b'{"id":"t1","message":"a"}', '{"id":"t2","message":"é🚀"}'.encode(), b'{"id":"t3"}']


class QueueSide(Protocol):
    """The test's own side of the source's queue."""

    async def publish(self, *bodies: bytes, headers: Mapping[str, str] | None = None) -> None:
        """Queue each body, in order (queued once this returns), with these headers."""

    async def publish_batch(self, *bodies: bytes) -> None:
        """Queue one `task.created.batch` message carrying these tasks (queued once this
        returns)."""

    async def queued(self) -> int:
        """How many messages wait in the queue, handed to no one."""

    async def dead_letters(self) -> list[bytes]:
        """The bodies dead-lettered so far, in order."""


async def until_equal(probe: Callable[[], Awaitable[T]], expected: T) -> None:
    """Until `probe()` answers `expected` (the broker settles asynchronously)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SECONDS
    while (seen := await probe()) != expected:
        assert loop.time() < deadline, f"{seen!r}, not {expected!r}"
        await asyncio.sleep(0.02)


Received = Collected[Delivery]  # what the source handed over, in order
Reopen = Callable[[], Awaitable[DeliverySource]]


async def handed_over(queue: QueueSide, received: Received, *bodies: bytes) -> list[Delivery]:
    """Publish `bodies` and take the deliveries of them."""
    await queue.publish(*bodies)
    return await received.take(len(bodies))


class DeliverySourceContract:
    @pytest.fixture
    async def source(self) -> DeliverySource:
        raise NotImplementedError("the adapter under test, not started, on an empty queue")

    @pytest.fixture
    def queue(self) -> QueueSide:
        raise NotImplementedError("the test's side of the source's queue")

    @pytest.fixture
    def reopen(self) -> Reopen:
        raise NotImplementedError("a new source on the same queue, once `source` closed")

    @pytest.fixture
    async def received(self, source: DeliverySource) -> AsyncIterator[Received]:
        received = Received()
        await source.start(received)
        yield received

    async def test_consuming_only_once_started(self, source: DeliverySource) -> None:
        assert not source.consuming
        await source.resume()  # nothing to resume before a start
        assert not source.consuming

        await source.start(Received())

        assert source.consuming

    async def test_once_started_hands_over_each_body_in_the_order_queued(
        self, source: DeliverySource, received: Received, queue: QueueSide
    ) -> None:
        bodies = [b"first", b"", "é🚀".encode(), b"\x00" * 100_000]

        await queue.publish(*bodies)

        assert [d.body for d in await received.take(4)] == bodies
        assert source.consuming
        assert await queue.queued() == 0

    async def test_a_delivery_carries_its_headers_and_is_not_redelivered_at_first(
        self, received: Received, queue: QueueSide
    ) -> None:
        await queue.publish(b"traced", headers={"traceparent": TRACEPARENT})
        await queue.publish(b"plain")

        traced, plain = await received.take(2)

        assert traced.headers.get("traceparent") == TRACEPARENT
        assert "traceparent" not in plain.headers
        assert not traced.redelivered and not plain.redelivered

    async def test_a_delivery_queued_again_comes_back_redelivered_with_its_headers(
        self, source: DeliverySource, received: Received, queue: QueueSide, reopen: Reopen
    ) -> None:
        await queue.publish(b"unsettled", headers={"traceparent": TRACEPARENT})
        await received.take(1)
        await source.pause()

        await source.close()
        again = Received()
        await (await reopen()).start(again)

        [delivery] = await again.take(1)
        assert delivery.redelivered
        assert delivery.headers.get("traceparent") == TRACEPARENT

    async def test_a_rejected_delivery_is_dead_lettered_not_queued_again(
        self, received: Received, queue: QueueSide
    ) -> None:
        [delivery] = await handed_over(queue, received, b"poison")

        await delivery.reject()

        await until_equal(queue.dead_letters, [b"poison"])
        assert await queue.queued() == 0

    async def test_on_close_what_was_acked_is_gone_and_what_was_not_is_queued_again(
        self, source: DeliverySource, received: Received, queue: QueueSide
    ) -> None:
        acked, _ = await handed_over(queue, received, b"acked", b"unsettled")
        await acked.ack()

        await source.close()

        await until_equal(queue.queued, 1)
        assert await queue.dead_letters() == []

    async def test_an_ack_settles_only_its_own_delivery_whatever_the_order(
        self, source: DeliverySource, received: Received, queue: QueueSide
    ) -> None:
        # Acks may leave together, but never as one that also acks earlier deliveries:
        # the first is settled by no one, so it must come back.
        _, second, third, fourth = await handed_over(queue, received, b"1", b"2", b"3", b"4")
        await fourth.ack()
        await second.ack()
        await third.reject()

        await source.close()

        await until_equal(queue.queued, 1)
        assert await queue.dead_letters() == [b"3"]

    async def test_settling_after_close_never_raises_and_changes_nothing(
        self, source: DeliverySource, received: Received, queue: QueueSide
    ) -> None:
        one, two = await handed_over(queue, received, b"one", b"two")

        await source.close()
        await one.ack()
        await two.reject()

        await until_equal(queue.queued, 2)  # both are queued again: the broker redelivers them
        assert await queue.dead_letters() == []

    async def test_only_the_first_settlement_counts(
        self, source: DeliverySource, received: Received, queue: QueueSide
    ) -> None:
        acked, rejected = await handed_over(queue, received, b"acked", b"rejected")

        await acked.ack()
        await acked.reject()
        await acked.ack()
        await rejected.reject()
        await rejected.reject()
        await rejected.ack()

        await until_equal(queue.dead_letters, [b"rejected"])
        await source.close()
        await asyncio.sleep(QUIET_SECONDS)  # a lost settlement would show up as queued
        assert await queue.queued() == 0
        assert await queue.dead_letters() == [b"rejected"]

    async def test_ping_is_true_while_connected_and_false_once_closed(
        self, source: DeliverySource
    ) -> None:
        assert await source.ping()

        await source.close()

        assert not await source.ping()

    async def test_after_stop_nothing_more_is_handed_over_even_on_resume(
        self, source: DeliverySource, received: Received, queue: QueueSide
    ) -> None:
        [taken] = await handed_over(queue, received, b"taken")

        await source.stop()
        await source.resume()
        await queue.publish(b"left")

        assert not source.consuming
        assert await received.none_more()
        assert await queue.queued() == 1
        await taken.reject()  # what was taken can still be settled
        await until_equal(queue.dead_letters, [b"taken"])

    async def test_nothing_is_handed_over_while_paused_and_resume_hands_over_what_waited(
        self, source: DeliverySource, received: Received, queue: QueueSide
    ) -> None:
        await source.pause()
        assert not source.consuming

        await queue.publish(b"waited")
        assert await received.none_more()
        assert await queue.queued() == 1

        await source.resume()
        assert source.consuming
        assert [d.body for d in await received.take(1)] == [b"waited"]

    async def test_deliveries_received_before_a_pause_can_still_be_settled(
        self, source: DeliverySource, received: Received, queue: QueueSide
    ) -> None:
        acked, rejected = await handed_over(queue, received, b"acked", b"rejected")

        await source.pause()
        await acked.ack()
        await rejected.reject()

        await until_equal(queue.dead_letters, [b"rejected"])
        await source.close()
        await asyncio.sleep(QUIET_SECONDS)
        assert await queue.queued() == 0

    async def test_pause_and_resume_are_harmless_when_repeated(
        self, source: DeliverySource, received: Received, queue: QueueSide
    ) -> None:
        await source.pause()
        await source.pause()
        assert not source.consuming

        await source.resume()
        await source.resume()
        assert source.consuming

        await queue.publish(b"one", b"two")
        assert [d.body for d in await received.take(2)] == [b"one", b"two"]
        assert await received.none_more()  # one consumer: nothing handed over twice

    # A message of several tasks (`task.created.batch`, as the relay sends short tasks)
    async def test_a_message_of_several_tasks_is_handed_over_one_delivery_per_task(
        self, source: DeliverySource, received: Received, queue: QueueSide
    ) -> None:
        await queue.publish_batch(*BATCH)

        deliveries = await received.take(len(BATCH))

        assert [d.body for d in deliveries] == BATCH
        assert not any(d.redelivered for d in deliveries)
        for delivery in deliveries:
            await delivery.ack()
        await source.close()
        await asyncio.sleep(QUIET_SECONDS)  # a settlement lost would show up as queued
        assert await queue.queued() == 0
        assert await queue.dead_letters() == []

    async def test_a_message_of_several_tasks_stays_until_all_are_acked_then_comes_back_split(
        self, source: DeliverySource, received: Received, queue: QueueSide, reopen: Reopen
    ) -> None:
        await queue.publish_batch(*BATCH)
        first, second, _ = await received.take(len(BATCH))
        await first.ack()
        await second.ack()

        await source.close()
        await until_equal(queue.queued, 1)  # the whole message: one task was not acked
        again = Received()
        await (await reopen()).start(again)

        # Delivered again, it is split: each task comes as a message of its own.
        singles = await again.take(len(BATCH))
        assert sorted(d.body for d in singles) == sorted(BATCH)
        for delivery in singles:
            await delivery.ack()
        await asyncio.sleep(QUIET_SECONDS)
        assert await queue.queued() == 0
        assert await queue.dead_letters() == []

    async def test_a_task_refused_from_a_message_of_several_is_dead_lettered_alone(
        self, received: Received, queue: QueueSide
    ) -> None:
        await queue.publish_batch(*BATCH)
        first, refused, third = await received.take(len(BATCH))

        await refused.reject()
        await first.ack()  # too late: the message went back whole
        await third.ack()

        # It comes back split; refused again, alone, only that task is dead-lettered.
        singles = await received.take(len(BATCH))
        assert sorted(d.body for d in singles) == sorted(BATCH)
        for delivery in singles:
            await (delivery.reject() if delivery.body == refused.body else delivery.ack())
        await until_equal(queue.dead_letters, [refused.body])
        await asyncio.sleep(QUIET_SECONDS)
        assert await queue.queued() == 0
