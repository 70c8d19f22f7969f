"""The OutboxStore contract against PostgreSQL, on a database of the test's own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from pyservices.common.events import TASK_PROCESSED
from pyservices.publisher.adapters.postgres import PostgresOutboxStore
from pyservices.publisher.domain import OutboxEvent
from tests.contracts.outbox_store import AddRows, Outage, OutboxStoreContract
from tests.integration.publisher.relay_support import database_outage

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
        async def add(
            *sizes: int, topic: str = TASK_PROCESSED, trace_context: str | None = None
        ) -> list[OutboxEvent]:
            rows = await pool.fetch(
                "INSERT INTO outbox (topic, task_id, payload, trace_context)"
                " SELECT $1, gen_random_uuid(), convert_to(repeat('x', n), 'UTF8'), $3"
                " FROM unnest($2::int[]) WITH ORDINALITY AS s(n, i) ORDER BY i"
                " RETURNING id, topic, task_id::text, payload, trace_context",
                topic,
                list(sizes),
                trace_context,
            )
            return [
                OutboxEvent(
                    r["id"], r["topic"], r["task_id"], bytes(r["payload"]), r["trace_context"]
                )
                for r in rows
            ]

        return add

    @pytest.fixture
    def outage(self, database_url: str) -> Outage:
        return lambda: database_outage(database_url)
