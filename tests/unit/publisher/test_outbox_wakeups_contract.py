"""The OutboxWakeups contract against the fake LISTEN the relay's unit tests can use."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from tests.contracts.outbox_wakeups import AddRow, Listen, Outage, OutboxWakeupsContract
from tests.unit.publisher.relay_fakes import FakeWakeups


class TestFakeOutboxWakeups(OutboxWakeupsContract):
    @pytest.fixture
    def made(self) -> list[FakeWakeups]:
        return []

    @pytest.fixture
    def listen(self, made: list[FakeWakeups]) -> Listen:
        def listen(wakeup: asyncio.Event) -> FakeWakeups:
            made.append(FakeWakeups(wakeup))
            return made[-1]

        return listen

    @pytest.fixture
    def add_row(self, made: list[FakeWakeups]) -> AddRow:
        async def add_row() -> None:  # the trigger's NOTIFY reaches every listener
            for wakeups in made:
                wakeups.notify()

        return add_row

    @pytest.fixture
    def outage(self, made: list[FakeWakeups]) -> Outage:
        @contextlib.asynccontextmanager
        async def outage() -> AsyncIterator[None]:
            for wakeups in made:
                wakeups.reachable = False
            try:
                yield
            finally:
                for wakeups in made:
                    wakeups.reachable = True

        return outage
