"""The fake broker side held to the processed events' contracts, plain and by owner."""

from __future__ import annotations

import pytest

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
from tests.unit.websocket.websocket_fakes import FakeProcessedEvents, publish


class TestFakeProcessedEvents(ProcessedEventsContract):
    @pytest.fixture
    def fanout(self) -> list[FakeProcessedEvents]:
        return []

    @pytest.fixture
    def make_events(self, fanout: list[FakeProcessedEvents]) -> MakeEvents:
        def make(handle: Handle) -> ProcessedEvents:
            return FakeProcessedEvents(handle, fanout)

        return make

    @pytest.fixture
    def unreachable_events(self) -> ProcessedEvents:
        return FakeProcessedEvents(lambda _: None, reachable=False)

    @pytest.fixture
    def publish(self, fanout: list[FakeProcessedEvents]) -> Publish:
        async def publish_all(*bodies: bytes) -> None:
            for body in bodies:
                publish(fanout, body)

        return publish_all


class TestFakeProcessedEventsByOwner(ProcessedEventsByOwnerContract):
    @pytest.fixture
    def fanout(self) -> list[FakeProcessedEvents]:
        return []

    @pytest.fixture
    def make_events(self, fanout: list[FakeProcessedEvents]) -> MakeEvents:
        return lambda handle: FakeProcessedEvents(handle, fanout, by_owner=True)

    @pytest.fixture
    def publish_as(self, fanout: list[FakeProcessedEvents]) -> PublishAs:
        async def publish_all(_owner: str | None, *bodies: bytes) -> None:
            for body in bodies:  # the fake routes by the body's own "owner"
                publish(fanout, body)

        return publish_all
