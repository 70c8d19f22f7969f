"""The EventPublisher contract against the scripted broker the relay's unit tests use."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from pyservices.publisher.domain import OutboxEvent
from tests.contracts.event_publisher import (
    BrokerBlocks,
    BrokerOutage,
    Delivered,
    EventPublisherContract,
    Refuse,
    Take,
    as_delivered,
)
from tests.unit.publisher.relay_fakes import FakePublisher


class TestFakeEventPublisher(EventPublisherContract):
    @pytest.fixture
    async def publisher(self) -> FakePublisher:
        return FakePublisher()

    @pytest.fixture
    def delivered(self, publisher: FakePublisher) -> Take:
        async def take(destination: str) -> list[Delivered]:
            return as_delivered(*publisher.delivered.pop(destination, []))

        return take

    @pytest.fixture
    def refuse(self, publisher: FakePublisher) -> Refuse:
        async def refuse(event: OutboxEvent) -> None:
            publisher.refuse.add(event.id)

        return refuse

    @pytest.fixture
    def broker_blocks(self, publisher: FakePublisher) -> BrokerBlocks:
        @contextlib.asynccontextmanager
        async def blocks() -> AsyncIterator[None]:
            publisher.block()
            try:
                yield
            finally:
                publisher.unblock()

        return blocks

    @pytest.fixture
    def broker_outage(self, publisher: FakePublisher) -> BrokerOutage:
        @contextlib.asynccontextmanager
        async def outage() -> AsyncIterator[None]:
            publisher.connected = False
            try:
                yield
            finally:  # what the AMQP adapter does once its connection is back
                publisher.connected = True
                publisher.reconnected.set()

        return outage
