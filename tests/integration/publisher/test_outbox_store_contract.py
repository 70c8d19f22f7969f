"""The OutboxStore contract against PostgreSQL, on a database of the test's own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import asyncpg
import pytest

from pyservices.common.events import TASK_PROCESSED
from pyservices.publisher.adapters.postgres import PostgresOutboxStore
from pyservices.publisher.domain import OutboxEvent
from tests.contracts.outbox_store import AddRows, Outage, OutboxStoreContract

pytestmark = pytest.mark.integration


class TestPostgresOutboxStore(OutboxStoreContract):
    @pytest.fixture
    async def pool(self, database_url: str) -> AsyncIterator[asyncpg.Pool]:
        # Room for the contract's four relays claiming at once, and a backlog beside them.
        async with asyncpg.create_pool(database_url, min_size=1, max_size=6) as made:
            yield made

    @pytest.fixture
    async def store(self, pool: asyncpg.Pool) -> PostgresOutboxStore:
        return PostgresOutboxStore(pool)

    @pytest.fixture
    def add(self, pool: asyncpg.Pool) -> AddRows:
        async def add(*sizes: int, topic: str = TASK_PROCESSED) -> list[OutboxEvent]:
            rows = await pool.fetch(
                "INSERT INTO outbox (topic, task_id, payload)"
                " SELECT $1, gen_random_uuid(), convert_to(repeat('x', n), 'UTF8')"
                " FROM unnest($2::int[]) WITH ORDINALITY AS s(n, i) ORDER BY i"
                " RETURNING id, topic, task_id::text, payload",
                topic,
                list(sizes),
            )
            return [
                OutboxEvent(r["id"], r["topic"], r["task_id"], bytes(r["payload"])) for r in rows
            ]

        return add

    @pytest.fixture
    def outage(self, database_url: str) -> Outage:
        @contextlib.asynccontextmanager
        async def outage() -> AsyncIterator[None]:
            # The database refuses new connections and its sessions are cut: to the
            # store's pool it is down, while the rest of the server serves other tests.
            url = urlsplit(database_url)
            name = url.path.lstrip("/")
            admin = await asyncpg.connect(url._replace(path="/postgres").geturl())
            try:
                await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                    name,
                )
                await asyncio.sleep(0.1)  # the pool reads the end of its sessions
                try:
                    yield
                finally:
                    await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            finally:
                await admin.close()

        return outage
