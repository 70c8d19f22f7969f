"""The TaskLookup contract against the fake the unit tests use."""

from __future__ import annotations

import pytest

from tests.contracts.task_lookup import Add, Process, TaskLookupContract
from tests.unit.websocket.websocket_fakes import FakeTaskLookup


class TestFakeTaskLookup(TaskLookupContract):
    @pytest.fixture
    async def lookup(self) -> FakeTaskLookup:
        return FakeTaskLookup()

    @pytest.fixture
    def add(self, lookup: FakeTaskLookup) -> Add:
        async def add(owner: str | None) -> str:
            return lookup.add(owner)

        return add

    @pytest.fixture
    def process(self, lookup: FakeTaskLookup) -> Process:
        async def process(task_id: str, binary_code: str) -> None:
            lookup.process(task_id, binary_code)

        return process

    @pytest.fixture
    async def unreachable_lookup(self) -> FakeTaskLookup:
        return FakeTaskLookup(reachable=False)
