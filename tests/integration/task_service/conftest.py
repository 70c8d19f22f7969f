"""A real PostgreSQL pool and repository per test, and the gRPC server in front of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import grpc
import pytest

from pyservices.common.proto import task_pb2_grpc
from pyservices.task_service.adapters.grpc_server import build_server
from pyservices.task_service.adapters.grpc_servicer import TaskServicer
from pyservices.task_service.adapters.postgres import PostgresTaskRepository, create_pool
from pyservices.task_service.domain import MessageLimits, PageLimits
from pyservices.task_service.ports import TaskRepository

LIMITS = MessageLimits(max_messages=5, max_message_bytes=64)
PAGES = PageLimits(default_size=3, max_size=10, max_bytes=1024)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, max_size=4, command_timeout=5, connect_timeout=2)
    yield pool
    await pool.close()


@pytest.fixture
def repository(pool: asyncpg.Pool) -> PostgresTaskRepository:
    return PostgresTaskRepository(pool, acquire_timeout=2)


async def serve(tasks: TaskRepository, max_message_bytes: int = 64 * 1024 * 1024) -> Any:
    server = build_server(TaskServicer(tasks, LIMITS, PAGES), max_message_bytes)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


@pytest.fixture
async def stub(repository: PostgresTaskRepository) -> AsyncIterator[Any]:
    server, port = await serve(repository)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield task_pb2_grpc.TaskServiceStub(channel)  # type: ignore[no-untyped-call]
    await server.stop(grace=None)
