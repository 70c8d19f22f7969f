"""The AMQP consumer held to the delivery source's contract, on a real RabbitMQ vhost."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import aio_pika
import pytest

from pyservices.common.events import TASK_CREATED_BATCH, join_created
from pyservices.common.topology import DEAD_LETTER_QUEUE, PROCESS_QUEUE, declare_process_queue
from pyservices.worker.adapters.rabbitmq import TaskConsumer
from pyservices.worker.ports import DeliverySource
from tests.contracts.delivery_source import DeliverySourceContract, QueueSide, Reopen

pytestmark = pytest.mark.integration


class AmqpQueueSide:
    """`task.process` seen through the test's own connection, beside the consumer's."""

    def __init__(self, channel: aio_pika.abc.AbstractChannel) -> None:
        self._channel = channel
        self._dead: list[bytes] = []

    async def publish(self, *bodies: bytes, headers: Mapping[str, str] | None = None) -> None:
        for body in bodies:  # confirmed one by one: queued once this returns
            await self._channel.default_exchange.publish(
                aio_pika.Message(
                    body,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    headers=dict(headers or {}),
                ),
                routing_key=PROCESS_QUEUE,
            )

    async def publish_batch(self, *bodies: bytes) -> None:
        await self._channel.default_exchange.publish(
            aio_pika.Message(
                join_created(bodies),
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                type=TASK_CREATED_BATCH,
            ),
            routing_key=PROCESS_QUEUE,
        )

    async def queued(self) -> int:
        declared = await self._channel.declare_queue(PROCESS_QUEUE, passive=True)
        count = declared.declaration_result.message_count
        assert count is not None
        return count

    async def dead_letters(self) -> list[bytes]:
        queue = await self._channel.declare_queue(DEAD_LETTER_QUEUE, passive=True)
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            self._dead.append(message.body)
        return list(self._dead)


class TestAmqpDeliverySource(DeliverySourceContract):
    @pytest.fixture
    async def source(self, rabbitmq_url: str) -> AsyncIterator[DeliverySource]:
        consumer = await TaskConsumer.connect(rabbitmq_url, prefetch=16, reconnect_interval=0.2)
        yield consumer
        await consumer.close()

    @pytest.fixture
    async def reopen(self, rabbitmq_url: str) -> AsyncIterator[Reopen]:
        opened: list[TaskConsumer] = []

        async def reopen() -> DeliverySource:
            opened.append(await TaskConsumer.connect(rabbitmq_url, prefetch=16))
            return opened[-1]

        yield reopen
        for consumer in opened:
            await consumer.close()

    @pytest.fixture
    async def queue(self, rabbitmq_url: str) -> AsyncIterator[QueueSide]:
        async with await aio_pika.connect(rabbitmq_url) as connection:
            channel = await connection.channel()
            await declare_process_queue(channel)
            yield AmqpQueueSide(channel)
