"""The fake delivery source held to the delivery source's contract."""

from __future__ import annotations

import pytest

from pyservices.worker.ports import DeliverySource
from tests.contracts.delivery_source import (
    DeadLetters,
    DeliverySourceContract,
    Publish,
    Queued,
)
from tests.unit.worker.worker_fakes import FakeDeliverySource


class TestFakeDeliverySource(DeliverySourceContract):
    @pytest.fixture
    def fake(self) -> FakeDeliverySource:
        return FakeDeliverySource()

    @pytest.fixture
    async def source(self, fake: FakeDeliverySource) -> DeliverySource:
        return fake

    @pytest.fixture
    def publish(self, fake: FakeDeliverySource) -> Publish:
        async def publish(*bodies: bytes) -> None:
            fake.publish(*bodies)

        return publish

    @pytest.fixture
    def queued(self, fake: FakeDeliverySource) -> Queued:
        async def queued() -> int:
            return len(fake.queued)

        return queued

    @pytest.fixture
    def dead_letters(self, fake: FakeDeliverySource) -> DeadLetters:
        async def dead_letters() -> list[bytes]:
            return list(fake.dead)

        return dead_letters
