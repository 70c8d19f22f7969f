"""The EventPublisher contract against RabbitMQ, on a virtual host of the test's own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aio_pika
import pytest
from pamqp import commands as spec

from pyservices.common.events import TASK_CREATED, TASK_CREATED_BATCH, split_created
from pyservices.common.topology import (
    PROCESSED_EXCHANGE,
    declare_processed_exchange,
    work_queue_for,
)
from pyservices.publisher.adapters.rabbitmq import AmqpEventPublisher
from pyservices.publisher.domain import OutboxEvent
from pyservices.publisher.settings import PublisherSettings
from tests.contracts.event_publisher import (
    BrokerBlocks,
    BrokerOutage,
    Delivered,
    EventPublisherContract,
    Refuse,
    Take,
)

pytestmark = pytest.mark.integration

# As the relay is deployed: short tasks go several to a message.
TASKS_PER_MESSAGE = PublisherSettings.model_fields["tasks_per_message"].default
# A queue bound to the processed fanout, standing for the WebSocket service.
RESULTS = "contract.results"


@contextlib.asynccontextmanager
async def channel_on(url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    # A connection of its own each time: the outage test cuts the vhost's connections.
    connection = await aio_pika.connect(url)
    async with connection:
        yield await connection.channel()


def unbatched(message: aio_pika.abc.AbstractIncomingMessage) -> list[Delivered]:
    """The events of a `task.created.batch` message, as each would have arrived alone
    (a batch carries no trace context: traced events go alone)."""
    assert message.headers.get("traceparent") is None
    message_ids, task_ids = message.headers["message_ids"], message.headers["task_ids"]
    assert isinstance(message_ids, list) and isinstance(task_ids, list)
    bodies = split_created(message.body)
    assert len(message_ids) == len(task_ids) == len(bodies) > 1
    return [
        Delivered(str(message_id), str(task_id), body)
        for message_id, task_id, body in zip(message_ids, task_ids, bodies, strict=True)
    ]


class TestAmqpEventPublisher(EventPublisherContract):
    @pytest.fixture
    async def publisher(self, rabbitmq_url: str) -> AsyncIterator[AmqpEventPublisher]:
        made = await AmqpEventPublisher.connect(
            rabbitmq_url, publish_timeout=5.0, tasks_per_message=TASKS_PER_MESSAGE
        )
        yield made
        await made.close()

    @pytest.fixture
    async def delivered(self, rabbitmq_url: str) -> Take:
        async with channel_on(rabbitmq_url) as channel:  # bound before anything is sent
            results = await channel.declare_queue(RESULTS)
            await results.bind(await declare_processed_exchange(channel))

        async def take(destination: str) -> list[Delivered]:
            name = RESULTS if destination == PROCESSED_EXCHANGE else destination
            taken = []
            async with channel_on(rabbitmq_url) as channel:
                queue = await channel.declare_queue(name, passive=True)
                # A confirmed message is already queued: take until the queue is empty.
                while message := await queue.get(no_ack=True, fail=False):
                    if message.type == TASK_CREATED_BATCH:
                        taken += unbatched(message)
                        continue
                    assert message.message_id is not None
                    task_id = str(message.headers["task_id"])
                    parent = message.headers.get("traceparent")
                    traceparent = None if parent is None else str(parent)
                    taken.append(Delivered(message.message_id, task_id, message.body, traceparent))
            return taken

        return take

    @pytest.fixture
    def refuse(self, rabbitmq_url: str) -> Refuse:
        async def refuse(event: OutboxEvent) -> None:
            # Its work queue is gone: the mandatory publish comes back unrouted.
            assert event.topic == TASK_CREATED
            async with channel_on(rabbitmq_url) as channel:
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

    @pytest.fixture
    def broker_outage(self, rabbitmq_url: str, rabbitmq_server: Any) -> BrokerOutage:
        vhost = urlsplit(rabbitmq_url).path.lstrip("/")

        async def ctl(*args: str) -> None:
            await asyncio.to_thread(rabbitmq_server.ctl, *args)

        @contextlib.asynccontextmanager
        async def outage() -> AsyncIterator[None]:
            # The vhost's connections are closed and new ones refused until the end.
            await ctl("clear_permissions", "-p", vhost, "guest")
            try:
                await ctl("close_all_connections", "-p", vhost, "contract test outage")
                yield
            finally:
                await ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")

        return outage
