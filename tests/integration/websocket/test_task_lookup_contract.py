"""The TaskLookup contract against its gRPC adapter, in front of a real task service
(its servicer over PostgreSQL, in-process)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pyservices.websocket.adapters.task_lookup import GrpcTaskLookup, open_channel
from tests.contracts.task_lookup import Add, Process, TaskLookupContract
from tests.integration.websocket.task_service_harness import (
    TaskService,
    running_task_service,
    unused_port,
)

pytestmark = pytest.mark.integration


class TestGrpcTaskLookup(TaskLookupContract):
    @pytest.fixture
    async def task_service(self, database_url: str) -> AsyncIterator[TaskService]:
        async with running_task_service(database_url) as service:
            yield service

    @pytest.fixture
    async def lookup(self, task_service: TaskService) -> AsyncIterator[GrpcTaskLookup]:
        channel = open_channel(task_service.address)
        yield GrpcTaskLookup(channel, timeout_seconds=5)
        await channel.close()

    @pytest.fixture
    def add(self, task_service: TaskService) -> Add:
        async def add(owner: str | None) -> str:
            [task_id] = await task_service.add(owner)
            return task_id

        return add

    @pytest.fixture
    def process(self, task_service: TaskService) -> Process:
        return task_service.process

    @pytest.fixture
    async def unreachable_lookup(self) -> AsyncIterator[GrpcTaskLookup]:
        channel = open_channel(f"127.0.0.1:{unused_port()}")
        yield GrpcTaskLookup(channel, timeout_seconds=1)
        await channel.close()
