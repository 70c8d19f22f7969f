"""The AMQP consumer held to the delivery source's contract, on a real RabbitMQ vhost."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aio_pika
import pytest

from pyservices.common.topology import DEAD_LETTER_QUEUE, PROCESS_QUEUE, declare_process_queue
from pyservices.worker.adapters.rabbitmq import TaskConsumer
from pyservices.worker.ports import DeliverySource
from tests.contracts.delivery_source import (
    DeadLetters,
    DeliverySourceContract,
    Publish,
    Queued,
)

pytestmark = pytest.mark.integration


class TestAmqpDeliverySource(DeliverySourceContract):
    @pytest.fixture
    async def consumer(self, rabbitmq_url: str) -> AsyncIterator[TaskConsumer]:
        consumer = await TaskConsumer.connect(rabbitmq_url, prefetch=16, reconnect_interval=0.2)
        yield consumer
        await consumer.close()

    @pytest.fixture
    async def source(self, consumer: TaskConsumer) -> DeliverySource:
        return consumer

    @pytest.fixture
    async def channel(self, rabbitmq_url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
        """The test's own connection to the broker, beside the consumer's."""
        async with await aio_pika.connect(rabbitmq_url) as connection:
            channel = await connection.channel()
            await declare_process_queue(channel)
            yield channel

    @pytest.fixture
    def publish(self, channel: aio_pika.abc.AbstractChannel) -> Publish:
        async def publish(*bodies: bytes) -> None:
            for body in bodies:  # confirmed one by one: queued once this returns
                await channel.default_exchange.publish(
                    aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key=PROCESS_QUEUE,
                )

        return publish

    @pytest.fixture
    def queued(self, channel: aio_pika.abc.AbstractChannel) -> Queued:
        async def queued() -> int:
            declared = await channel.declare_queue(PROCESS_QUEUE, passive=True)
            count = declared.declaration_result.message_count
            assert count is not None
            return count

        return queued

    @pytest.fixture
    def dead_letters(self, channel: aio_pika.abc.AbstractChannel) -> DeadLetters:
        taken: list[bytes] = []

        async def dead_letters() -> list[bytes]:
            queue = await channel.declare_queue(DEAD_LETTER_QUEUE, passive=True)
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                taken.append(message.body)
            return list(taken)

        return dead_letters
