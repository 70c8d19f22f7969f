"""The fake delivery source held to the delivery source's contract."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from pyservices.worker.ports import DeliverySource
from tests.contracts.delivery_source import DeliverySourceContract, QueueSide, Reopen
from tests.unit.worker.worker_fakes import FakeDeliverySource


class FakeQueueSide:
    def __init__(self, fake: FakeDeliverySource) -> None:
        self._fake = fake

    async def publish(self, *bodies: bytes, headers: Mapping[str, str] | None = None) -> None:
        self._fake.publish(*bodies, headers=headers)

    async def publish_batch(self, *bodies: bytes) -> None:
        self._fake.publish_batch(*bodies)

    async def queued(self) -> int:
        return len(self._fake.queued)

    async def dead_letters(self) -> list[bytes]:
        return list(self._fake.dead)


class TestFakeDeliverySource(DeliverySourceContract):
    @pytest.fixture
    def fake(self) -> FakeDeliverySource:
        return FakeDeliverySource()

    @pytest.fixture
    async def source(self, fake: FakeDeliverySource) -> DeliverySource:
        return fake

    @pytest.fixture
    def queue(self, fake: FakeDeliverySource) -> QueueSide:
        return FakeQueueSide(fake)

    @pytest.fixture
    def reopen(self, fake: FakeDeliverySource) -> Reopen:
        async def reopen() -> DeliverySource:
            # The fake's queue lives in it: connected again, it stands for a new source.
            fake.connected, fake.stopped, fake.paused = True, False, False
            fake._on_delivery = None
            return fake

        return reopen
