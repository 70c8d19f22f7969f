"""The scripted fake task service held to the result stream's contract."""

from __future__ import annotations

import uuid

import pytest

from pyservices.worker.domain import AckStatus
from pyservices.worker.ports import TaskService
from tests.contracts.result_stream import Outage, ResultStreamContract, TaskId
from tests.unit.worker.worker_fakes import FakeTaskService

LIMIT = 64 * 1024


class TestFakeResultStream(ResultStreamContract):
    @pytest.fixture
    async def service(self, fake: FakeTaskService) -> TaskService:
        return fake

    @pytest.fixture
    def fake(self) -> FakeTaskService:
        service = FakeTaskService()
        service.max_message_bytes = LIMIT
        return service

    @pytest.fixture
    async def unreachable_service(self) -> TaskService:
        service = FakeTaskService()
        service.unavailable = 1
        return service

    @pytest.fixture
    def task_id(self, fake: FakeTaskService) -> TaskId:
        async def make(status: AckStatus) -> str:
            task = str(uuid.uuid4())
            fake.verdicts[task] = status
            return task

        return make

    @pytest.fixture
    def outage(self, fake: FakeTaskService) -> Outage:
        async def fail() -> None:
            for stream in fake.streams:
                stream.fail()

        return fail

    @pytest.fixture
    def message_limit(self) -> int:
        return LIMIT
