"""The OutboxStore contract against the in-memory fake the relay's unit tests use."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from pyservices.common.events import TASK_PROCESSED
from pyservices.publisher.domain import OutboxEvent
from tests.contracts.outbox_store import AddRows, Outage, OutboxStoreContract
from tests.unit.publisher.relay_fakes import FakeOutbox, event


class TestFakeOutboxStore(OutboxStoreContract):
    @pytest.fixture
    async def store(self) -> FakeOutbox:
        return FakeOutbox()

    @pytest.fixture
    def add(self, store: FakeOutbox) -> AddRows:
        next_ids = itertools.count(1)  # an identity: ids grow, never reused

        async def add(
            *sizes: int, topic: str = TASK_PROCESSED, trace_context: str | None = None
        ) -> list[OutboxEvent]:
            rows = [
                replace(event(next(next_ids), topic, size), trace_context=trace_context)
                for size in sizes
            ]
            store.add(*rows)
            return rows

        return add

    @pytest.fixture
    def outage(self, store: FakeOutbox) -> Outage:
        @contextlib.asynccontextmanager
        async def outage() -> AsyncIterator[None]:
            store.reachable = False
            try:
                yield
            finally:
                store.reachable = True

        return outage
