"""The fake client held to the subscriber's contract."""

from __future__ import annotations

import pytest

from pyservices.websocket.ports import Subscriber
from tests.contracts.subscriber import Client, Connected, IdleSubscriber, SubscriberContract
from tests.unit.websocket.websocket_fakes import FakeClient


class FarEnd:
    """What the fake client took is what its far end received."""

    def __init__(self, client: FakeClient) -> None:
        self._client = client

    async def receive(self, count: int) -> list[str]:
        return self._client.frames[:count]

    async def close_reason(self) -> str:
        assert self._client.dropped_for is not None, "not dropped"
        return self._client.dropped_for


class TestFakeSubscriber(SubscriberContract):
    @pytest.fixture
    def idle_subscriber(self) -> IdleSubscriber:
        return lambda frames, size: FakeClient(capacity=frames, capacity_bytes=size)

    @pytest.fixture
    def connected(self) -> Connected:
        async def connect() -> tuple[Subscriber, Client]:
            client = FakeClient()
            return client, FarEnd(client)

        return connect
