"""The gateway's TaskService contract against the in-memory fake."""

from __future__ import annotations

import pytest

from pyservices.common.status import DATABASE_PART
from pyservices.gateway.domain import TaskServiceUnavailable
from tests.contracts.gateway_task_service import LIMITS, PAGES, Process, TaskServiceContract
from tests.unit.gateway.gateway_fakes import FakeTaskService


class TestFakeTaskService(TaskServiceContract):
    @pytest.fixture
    async def service(self) -> FakeTaskService:
        return FakeTaskService(LIMITS, PAGES)

    @pytest.fixture
    def process(self, service: FakeTaskService) -> Process:
        async def record(task_id: str, binary_code: str) -> None:
            service.process(task_id, binary_code)

        return record

    @pytest.fixture
    async def unreachable_service(self) -> FakeTaskService:
        service = FakeTaskService(LIMITS, PAGES)
        service.fail_with = TaskServiceUnavailable()
        return service

    @pytest.fixture
    async def database_down_service(self) -> FakeTaskService:
        service = FakeTaskService(LIMITS, PAGES)
        service.fail_with = TaskServiceUnavailable(DATABASE_PART)
        return service
