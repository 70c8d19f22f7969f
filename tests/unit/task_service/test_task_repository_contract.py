"""The TaskRepository contract against the in-memory fake."""

from __future__ import annotations

import pytest

from tests.contracts.task_repository import (
    Event,
    Outbox,
    OutboxTraceContexts,
    TaskRepositoryContract,
)
from tests.unit.task_service.fakes import FakeTaskRepository


class TestFakeTaskRepository(TaskRepositoryContract):
    @pytest.fixture
    async def repository(self) -> FakeTaskRepository:
        return FakeTaskRepository()

    @pytest.fixture
    def outbox(self, repository: FakeTaskRepository) -> Outbox:
        async def waiting() -> list[Event]:
            return repository.outbox[repository.published :]

        return waiting

    @pytest.fixture
    def outbox_trace_contexts(self, repository: FakeTaskRepository) -> OutboxTraceContexts:
        async def waiting() -> list[str | None]:
            return repository.trace_contexts[repository.published :]

        return waiting

    @pytest.fixture
    async def unavailable_repository(self) -> FakeTaskRepository:
        repository = FakeTaskRepository()
        repository.unavailable = True
        return repository

    @pytest.fixture
    def duplicate_id_error(self) -> type[Exception]:
        return ValueError
