"""A real task service in-process (its gRPC servicer over PostgreSQL) on a free port,
and ways to create and process its tasks directly, as sendTask and the worker do."""

from __future__ import annotations

import contextlib
import socket
import uuid
from collections.abc import AsyncIterator

from pyservices.task_service.adapters.grpc_server import build_server
from pyservices.task_service.adapters.grpc_servicer import TaskServicer
from pyservices.task_service.adapters.postgres import PostgresTaskRepository, create_pool
from pyservices.task_service.domain import MessageLimits, NewTask, PageLimits, ProcessedResult

MAX_MESSAGE_BYTES = 64 * 1024 * 1024


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class TaskService:
    """A running task service: its address and its tasks."""

    def __init__(self, address: str, repository: PostgresTaskRepository) -> None:
        self.address = address
        self.repository = repository

    async def add(self, owner: str | None = None, count: int = 1) -> list[str]:
        tasks = [NewTask(uuid.uuid4(), f"task {n}", owner) for n in range(count)]
        await self.repository.add_tasks(tasks)
        return [str(task.id) for task in tasks]

    async def process(self, task_id: str, binary_code: str) -> None:
        await self.repository.record_processed([ProcessedResult(uuid.UUID(task_id), binary_code)])


@contextlib.asynccontextmanager
async def running_task_service(database_url: str) -> AsyncIterator[TaskService]:
    pool = await create_pool(database_url, max_size=4, command_timeout=5, connect_timeout=2)
    repository = PostgresTaskRepository(pool, acquire_timeout=2)
    servicer = TaskServicer(repository, MessageLimits(1000, 65536), PageLimits(100, 1000, 1 << 20))
    server = build_server(servicer, MAX_MESSAGE_BYTES)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield TaskService(f"127.0.0.1:{port}", repository)
    finally:
        await server.stop(grace=None)
        await pool.close()
