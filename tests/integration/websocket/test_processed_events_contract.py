"""The AMQP consumer of `task.processed` held to the processed events' contracts, plain
and routed by owner, on a real RabbitMQ vhost."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import pytest

from pyservices.common.topology import (
    declare_processed_exchange,
    declare_processed_routing,
    owner_routing_key,
)
from pyservices.websocket.adapters.rabbitmq import ProcessedEventsConsumer
from pyservices.websocket.ports import ProcessedEvents
from tests.contracts.processed_events import (
    Handle,
    MakeEvents,
    ProcessedEventsContract,
    Publish,
)
from tests.contracts.processed_events_by_owner import (
    ProcessedEventsByOwnerContract,
    PublishAs,
)

pytestmark = pytest.mark.integration


def consumer(url: str, handle: Handle, *, by_owner: bool = False) -> ProcessedEventsConsumer:
    return ProcessedEventsConsumer(
        url,
        handle,
        prefetch=16,
        queue_max_length=1000,
        queue_max_bytes=16 * 1024 * 1024,
        reconnect_interval=0.2,
        by_owner=by_owner,
    )


class TestAmqpProcessedEvents(ProcessedEventsContract):
    @pytest.fixture
    def make_events(self, rabbitmq_url: str) -> MakeEvents:
        return lambda handle: consumer(rabbitmq_url, handle)

    @pytest.fixture
    def unreachable_events(self, rabbitmq_url: str) -> ProcessedEvents:
        # The same broker and credentials on a port where nothing listens.
        parts = urlsplit(rabbitmq_url)
        unreachable = parts._replace(netloc=parts.netloc.rsplit(":", 1)[0] + ":1")
        return consumer(urlunsplit(unreachable), lambda _: None)

    @pytest.fixture
    async def exchange(self, rabbitmq_url: str) -> AsyncIterator[aio_pika.abc.AbstractExchange]:
        async with await aio_pika.connect(rabbitmq_url) as connection:
            yield await declare_processed_exchange(await connection.channel())

    @pytest.fixture
    def publish(self, exchange: aio_pika.abc.AbstractExchange) -> Publish:
        async def publish(*bodies: bytes) -> None:
            for body in bodies:  # confirmed one by one: routed once this returns
                await exchange.publish(aio_pika.Message(body), routing_key="")

        return publish


class TestAmqpProcessedEventsByOwner(ProcessedEventsByOwnerContract):
    @pytest.fixture
    def make_events(self, rabbitmq_url: str) -> MakeEvents:
        return lambda handle: consumer(rabbitmq_url, handle, by_owner=True)

    @pytest.fixture
    async def fanout(self, rabbitmq_url: str) -> AsyncIterator[aio_pika.abc.AbstractExchange]:
        async with await aio_pika.connect(rabbitmq_url) as connection:
            # As the relay declares it: the by-owner exchange bound behind the fanout.
            yield await declare_processed_routing(await connection.channel())

    @pytest.fixture
    def publish_as(self, fanout: aio_pika.abc.AbstractExchange) -> PublishAs:
        async def publish(owner: str | None, *bodies: bytes) -> None:
            for body in bodies:
                await fanout.publish(aio_pika.Message(body), routing_key=owner_routing_key(owner))

        return publish
