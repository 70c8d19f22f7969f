"""The TaskRepository contract against PostgreSQL (a fresh, migrated database per test)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import asyncpg
import pytest

from pyservices.task_service.adapters.postgres import PostgresTaskRepository, create_pool
from tests.contracts.task_repository import (
    Event,
    Outbox,
    OutboxTraceContexts,
    TaskRepositoryContract,
)

pytestmark = pytest.mark.integration


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class TestPostgresTaskRepository(TaskRepositoryContract):
    @pytest.fixture
    async def repository(self, pool: asyncpg.Pool) -> PostgresTaskRepository:
        return PostgresTaskRepository(pool, acquire_timeout=2)

    @pytest.fixture
    def outbox(self, pool: asyncpg.Pool) -> Outbox:
        async def waiting() -> list[Event]:
            rows = await pool.fetch("SELECT topic, task_id, payload FROM outbox ORDER BY id")
            return [(row["topic"], row["task_id"], row["payload"]) for row in rows]

        return waiting

    @pytest.fixture
    def outbox_trace_contexts(self, pool: asyncpg.Pool) -> OutboxTraceContexts:
        async def waiting() -> list[str | None]:
            rows = await pool.fetch("SELECT trace_context FROM outbox ORDER BY id")
            return [row["trace_context"] for row in rows]

        return waiting

    @pytest.fixture
    async def unavailable_repository(self) -> AsyncIterator[PostgresTaskRepository]:
        dead = f"postgresql://nobody@127.0.0.1:{unused_port()}/none"
        pool = await create_pool(dead, max_size=2, command_timeout=1, connect_timeout=1)
        yield PostgresTaskRepository(pool, acquire_timeout=1)
        pool.terminate()  # close() would wait out the connection attempts

    @pytest.fixture
    def duplicate_id_error(self) -> type[Exception]:
        error: type[Exception] = asyncpg.UniqueViolationError
        return error
