"""The EventPublisher contract against RabbitMQ, on a virtual host of the test's own."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest
from pamqp import commands as spec

from pyservices.common.events import TASK_CREATED
from pyservices.common.topology import (
    PROCESSED_EXCHANGE,
    declare_processed_exchange,
    work_queue_for,
)
from pyservices.publisher.adapters.rabbitmq import AmqpEventPublisher
from pyservices.publisher.domain import OutboxEvent
from tests.contracts.event_publisher import (
    BrokerBlocks,
    Delivered,
    EventPublisherContract,
    Refuse,
    Take,
)

pytestmark = pytest.mark.integration


class TestAmqpEventPublisher(EventPublisherContract):
    @pytest.fixture
    async def publisher(self, rabbitmq_url: str) -> AsyncIterator[AmqpEventPublisher]:
        made = await AmqpEventPublisher.connect(rabbitmq_url, publish_timeout=5.0)
        yield made
        await made.close()

    @pytest.fixture
    async def channel(self, rabbitmq_url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
        connection = await aio_pika.connect(rabbitmq_url)
        async with connection:
            yield await connection.channel()

    @pytest.fixture
    async def delivered(
        self, channel: aio_pika.abc.AbstractChannel, publisher: AmqpEventPublisher
    ) -> Take:
        # A subscriber of the fanout, bound before anything is published.
        results = await channel.declare_queue(exclusive=True)
        await results.bind(await declare_processed_exchange(channel))

        async def take(destination: str) -> list[Delivered]:
            if destination == PROCESSED_EXCHANGE:
                queue = results
            else:
                queue = await channel.declare_queue(destination, passive=True)
            taken = []
            # A confirmed message is already queued: take until the queue is empty.
            while message := await queue.get(no_ack=True, fail=False):
                assert message.message_id is not None
                taken.append(
                    Delivered(message.message_id, str(message.headers["task_id"]), message.body)
                )
            return taken

        return take

    @pytest.fixture
    def refuse(self, channel: aio_pika.abc.AbstractChannel) -> Refuse:
        async def refuse(event: OutboxEvent) -> None:
            # Its work queue is gone: the mandatory publish comes back unrouted.
            assert event.topic == TASK_CREATED
            await channel.queue_delete(work_queue_for(len(event.payload)))

        return refuse

    @pytest.fixture
    def broker_blocks(self, publisher: AmqpEventPublisher) -> BrokerBlocks:
        @contextlib.asynccontextmanager
        async def blocks() -> AsyncIterator[None]:
            # The frames RabbitMQ sends at a resource alarm, handed to the publisher's
            # own connection: a real alarm is node-wide and would stop every other test.
            assert publisher._connection.transport is not None
            connection: Any = publisher._connection.transport.connection
            await connection._Connection__handle_connection_blocked(
                spec.Connection.Blocked("test alarm")
            )
            try:
                yield
            finally:
                await connection._Connection__handle_connection_unblocked(
                    spec.Connection.Unblocked()
                )

        return blocks
