"""AckBatcher: what leaves, in how many writes, and what never waits forever.

The channel is a stand-in with aiormq's attributes the batcher uses (its write queue,
its number, `is_closed`, `closing` and the event aiormq sets when the broker closes
it); the frames are read back with pamqp. The same batcher against a real RabbitMQ is
covered by the worker's delivery contract and the WebSocket service's tests.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, cast

from aio_pika.abc import AbstractIncomingMessage
from aiormq.abc import ChannelFrame
from pamqp import commands, frame

from pyservices.common import acks
from pyservices.common.acks import AckBatcher


class FakeChannel:
    def __init__(self, number: int = 1, queue_size: int = 0) -> None:
        self.number = number
        self.write_queue: asyncio.Queue[ChannelFrame] = asyncio.Queue(queue_size)
        self._closing: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._Channel__close_event = asyncio.Event()  # what aiormq sets at Channel.Close

    @property
    def is_closed(self) -> bool:
        return self._closing.done()

    @property
    def closing(self) -> asyncio.Future[None]:
        observer: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def closed(_: object) -> None:
            if not observer.done():
                observer.set_result(None)

        self._closing.add_done_callback(closed)
        return observer

    def close(self) -> None:
        self._closing.set_result(None)

    def sent(self) -> list[list[commands.Basic.Ack]]:
        """Each write queued so far, as its ack frames."""
        writes = []
        while not self.write_queue.empty():
            payload = self.write_queue.get_nowait().payload
            found = []
            while payload:
                used, _, decoded = frame.unmarshal(payload)
                payload = payload[used:]
                assert isinstance(decoded, commands.Basic.Ack)
                found.append(decoded)
            writes.append(found)
        return writes


@dataclass
class FakeMessage:
    channel: FakeChannel
    delivery_tag: int | None


def ack(batcher: AckBatcher, channel: FakeChannel, *tags: int) -> None:
    for tag in tags:
        batcher.ack(cast(AbstractIncomingMessage, FakeMessage(channel, tag)))


async def test_the_acks_of_one_loop_turn_leave_in_one_write_a_frame_each() -> None:
    channel, other = FakeChannel(1), FakeChannel(2)
    batcher = AckBatcher()

    ack(batcher, channel, 1, 2, 4)
    ack(batcher, other, 7)
    await batcher.flushed()

    [[one, two, four]] = channel.sent()
    assert [(a.delivery_tag, a.multiple) for a in (one, two, four)] == [
        (1, False),
        (2, False),
        (4, False),
    ]
    assert [[a.delivery_tag for a in write] for write in other.sent()] == [[7]]


async def test_multiple_sends_one_ack_for_the_newest_tag() -> None:
    channel = FakeChannel()
    batcher = AckBatcher(multiple=True)

    ack(batcher, channel, 3, 4, 5)
    await batcher.flushed()
    ack(batcher, channel, 6)
    await batcher.flushed()

    assert [[(a.delivery_tag, a.multiple) for a in write] for write in channel.sent()] == [
        [(5, True)],
        [(6, True)],
    ]


async def test_nothing_goes_on_a_closed_channel_or_one_the_broker_closed() -> None:
    closed, closed_by_broker = FakeChannel(1), FakeChannel(2)
    closed.close()
    closed_by_broker._Channel__close_event.set()
    batcher = AckBatcher()

    ack(batcher, closed, 1)
    ack(batcher, closed_by_broker, 1)
    await batcher.flushed()

    assert closed.sent() == [] and closed_by_broker.sent() == []


async def test_a_message_consumed_without_acks_sends_nothing() -> None:
    channel = FakeChannel()
    batcher = AckBatcher()

    ack(batcher, channel)  # no tags
    batcher.ack(cast(AbstractIncomingMessage, FakeMessage(channel, None)))
    await batcher.flushed()

    assert channel.sent() == []


async def test_a_stuck_writer_holds_the_acks_only_until_its_channel_closes() -> None:
    stuck = FakeChannel(1, queue_size=1)
    stuck.write_queue.put_nowait(ChannelFrame.marshall(1, [commands.Basic.Ack(99)]))
    batcher = AckBatcher()

    ack(batcher, stuck, 1)
    flushing = asyncio.create_task(batcher.flushed())
    await asyncio.sleep(0.05)
    assert not flushing.done()  # waiting for room in the writer's queue

    stuck.close()  # the connection died: these acks are moot, the broker redelivers
    await asyncio.wait_for(flushing, 1)
    fresh = FakeChannel(2)
    ack(batcher, fresh, 1)
    await asyncio.wait_for(batcher.flushed(), 1)
    assert [[a.delivery_tag for a in write] for write in fresh.sent()] == [[1]]


async def test_a_stuck_writer_is_given_up_after_a_while(monkeypatch: Any) -> None:
    monkeypatch.setattr(acks, "ACK_QUEUE_SECONDS", 0.05)
    stuck = FakeChannel(1, queue_size=1)
    stuck.write_queue.put_nowait(ChannelFrame.marshall(1, [commands.Basic.Ack(99)]))
    batcher = AckBatcher()

    ack(batcher, stuck, 1)

    await asyncio.wait_for(batcher.flushed(), 1)
    assert stuck.write_queue.qsize() == 1  # still only the frame that was there
