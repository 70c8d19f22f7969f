"""The gRPC result stream held to its contract, against a real task service over
PostgreSQL (its servicer in-process, behind a real grpc.aio server)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from pyservices.task_service.adapters.grpc_server import build_server
from pyservices.task_service.adapters.grpc_servicer import TaskServicer
from pyservices.task_service.adapters.postgres import PostgresTaskRepository, create_pool
from pyservices.task_service.domain import MessageLimits, NewTask, PageLimits
from pyservices.worker.adapters.grpc_client import GrpcTaskService
from pyservices.worker.domain import AckStatus
from pyservices.worker.ports import TaskService
from tests.contracts.result_stream import Outage, ResultStreamContract, TaskId

pytestmark = pytest.mark.integration

LIMIT = 64 * 1024  # gRPC's receive limit at the server: the message limit under test
MESSAGES = MessageLimits(max_messages=10, max_message_bytes=LIMIT)  # codes up to 512 KiB
PAGES = PageLimits(default_size=3, max_size=10, max_bytes=1024)


class TestGrpcResultStream(ResultStreamContract):
    @pytest.fixture
    async def repository(self, database_url: str) -> AsyncIterator[PostgresTaskRepository]:
        pool = await create_pool(database_url, max_size=4, command_timeout=5, connect_timeout=2)
        yield PostgresTaskRepository(pool, acquire_timeout=2)
        await pool.close()

    @pytest.fixture
    async def server(self, repository: PostgresTaskRepository) -> AsyncIterator[Any]:
        server = build_server(TaskServicer(repository, MESSAGES, PAGES), LIMIT)
        server.address = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
        await server.start()
        yield server
        await server.stop(None)

    @pytest.fixture
    async def service(self, server: Any) -> AsyncIterator[TaskService]:
        async with grpc.aio.insecure_channel(server.address) as channel:
            yield GrpcTaskService(channel)

    @pytest.fixture
    async def unreachable_service(self) -> AsyncIterator[TaskService]:
        async with grpc.aio.insecure_channel("127.0.0.1:1") as channel:  # nothing listens
            yield GrpcTaskService(channel)

    @pytest.fixture
    def task_id(self, repository: PostgresTaskRepository) -> TaskId:
        async def make(status: AckStatus) -> str:
            if status is AckStatus.INVALID:
                return "not-a-task-id"
            task = uuid.uuid4()
            if status is AckStatus.ACCEPTED:
                await repository.add_tasks([NewTask(task, "A")])
            return str(task)

        return make

    @pytest.fixture
    def outage(self, server: Any) -> Outage:
        async def stop() -> None:
            await server.stop(None)

        return stop

    @pytest.fixture
    def message_limit(self) -> int:
        return LIMIT
