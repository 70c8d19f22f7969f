"""Splitting a batch delivered again while the broker blocks publishers (a memory alarm).

The worker publishes only to split a batch, and a blocked connection is one the broker
no longer reads: the split must not take the acks of the consuming connection with it.
On a RabbitMQ of the test's own, since an alarm is node-wide.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aio_pika
import pytest

from devstack.infra import LocalRabbitMQ
from pyservices.common.events import TASK_CREATED_BATCH, join_created
from pyservices.common.topology import PROCESS_QUEUE, declare_process_queue
from pyservices.worker.adapters.rabbitmq import TaskConsumer
from pyservices.worker.ports import Delivery
from tests.contracts.collected import Collected
from tests.contracts.delivery_source import BATCH

pytestmark = pytest.mark.integration
T = TypeVar("T")

# Each probe runs rabbitmqctl, an Erlang VM of its own: seconds on a busy machine.
PROBE_SECONDS = 30.0


async def until_equal(probe: Callable[[], Awaitable[T]], expected: T) -> None:
    deadline = time.monotonic() + PROBE_SECONDS
    while (seen := await probe()) != expected:
        assert time.monotonic() < deadline, f"{seen!r}, not {expected!r}"
        await asyncio.sleep(0.1)


async def test_a_split_waits_out_a_memory_alarm_while_acks_still_flow(
    own_rabbitmq: LocalRabbitMQ,
) -> None:
    url = await asyncio.to_thread(own_rabbitmq.create_vhost, "split")

    async def depths() -> tuple[int, int]:
        listed = await asyncio.to_thread(own_rabbitmq.queue_depths, "split")
        return listed[PROCESS_QUEUE]

    async def blocked() -> bool:
        listed = await asyncio.to_thread(
            own_rabbitmq.ctl, "list_connections", "state", "--formatter", "json"
        )
        return any(c["state"] == "blocked" for c in json.loads(listed))

    async with await aio_pika.connect(url) as connection:
        channel = await connection.channel()
        await declare_process_queue(channel)
        await channel.default_exchange.publish(
            aio_pika.Message(join_created(BATCH), type=TASK_CREATED_BATCH),
            routing_key=PROCESS_QUEUE,
        )
        # Taken once and not settled: the batch comes back redelivered.
        first = await TaskConsumer.connect(url, prefetch=16)
        try:
            taken = Collected[Delivery]()
            await first.start(taken)
            await taken.take(len(BATCH))
        finally:
            await first.close()
        await channel.default_exchange.publish(
            aio_pika.Message(b"plain"), routing_key=PROCESS_QUEUE
        )
        await until_equal(depths, (2, 0))

        await asyncio.to_thread(own_rabbitmq.ctl, "set_vm_memory_high_watermark", "0.0000001")
        consumer = await TaskConsumer.connect(url, prefetch=16)
        try:
            received = Collected[Delivery]()
            await consumer.start(received)
            try:
                [plain] = await received.take(1)
                assert plain.body == b"plain"
                await until_equal(blocked, True)  # the split's publishes are held
                await plain.ack()
                # The plain task's ack went through; the batch is held while its split waits.
                await until_equal(depths, (0, 1))
                assert await received.none_more()
            finally:
                await asyncio.to_thread(own_rabbitmq.ctl, "set_vm_memory_high_watermark", "0.4")

            # Once the alarm is over, the split goes through: one message per task, once
            # (a publish waiting for its confirm is never sent again).
            singles = await received.take(len(BATCH))
            assert sorted(d.body for d in singles) == sorted(BATCH)
            assert not any(d.with_others for d in singles)
            for delivery in singles:
                await delivery.ack()
            await until_equal(depths, (0, 0))
            assert await received.none_more()
        finally:
            await consumer.close()
