"""The gateway's TaskService contract against its gRPC adapter, in front of a real task
service: an in-process TaskServicer over PostgreSQL, with the contract's limits."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from pyservices.gateway.adapters.grpc_client import GrpcTaskService, open_channel
from pyservices.task_service.adapters.grpc_server import build_server
from pyservices.task_service.adapters.grpc_servicer import TaskServicer
from pyservices.task_service.adapters.postgres import PostgresTaskRepository, create_pool
from pyservices.task_service.domain import ProcessedResult
from tests.contracts.gateway_task_service import LIMITS, PAGES, Process, TaskServiceContract

pytestmark = pytest.mark.integration

MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def serving(pool: asyncpg.Pool) -> AsyncIterator[GrpcTaskService]:
    """The gRPC adapter in front of a task service over `pool`, for as long as used."""
    servicer = TaskServicer(PostgresTaskRepository(pool, acquire_timeout=1), LIMITS, PAGES)
    server = build_server(servicer, MAX_MESSAGE_BYTES)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = open_channel(f"127.0.0.1:{port}", MAX_MESSAGE_BYTES)
    try:
        yield GrpcTaskService(channel, timeout_seconds=10)
    finally:
        await channel.close()
        await server.stop(grace=None)


class TestGrpcTaskService(TaskServiceContract):
    @pytest.fixture
    async def pool(self, database_url: str) -> AsyncIterator[asyncpg.Pool]:
        pool = await create_pool(database_url, max_size=4, command_timeout=5, connect_timeout=2)
        yield pool
        await pool.close()

    @pytest.fixture
    async def service(self, pool: asyncpg.Pool) -> AsyncIterator[GrpcTaskService]:
        async for service in serving(pool):
            yield service

    @pytest.fixture
    def process(self, pool: asyncpg.Pool) -> Process:
        repository = PostgresTaskRepository(pool, acquire_timeout=2)

        async def record(task_id: str, binary_code: str) -> None:
            await repository.record_processed([ProcessedResult(uuid.UUID(task_id), binary_code)])

        return record

    @pytest.fixture
    async def unreachable_service(self) -> AsyncIterator[GrpcTaskService]:
        channel = open_channel(f"127.0.0.1:{unused_port()}", MAX_MESSAGE_BYTES)
        yield GrpcTaskService(channel, timeout_seconds=5)
        await channel.close()

    @pytest.fixture
    async def database_down_service(self) -> AsyncIterator[GrpcTaskService]:
        dead = f"postgresql://nobody@127.0.0.1:{unused_port()}/none"
        pool = await create_pool(dead, max_size=2, command_timeout=1, connect_timeout=1)
        async for service in serving(pool):
            yield service
        pool.terminate()  # close() would wait out the connection attempts
