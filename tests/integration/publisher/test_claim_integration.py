"""The byte-bounded claim against a real PostgreSQL: oldest first, within the budget,
skipping rows another relay holds, and locking no row it does not return."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from pyservices.publisher.adapters.postgres import PostgresOutboxStore
from pyservices.publisher.domain import ClaimLimits
from pyservices.publisher.ports import ClaimedBatch

pytestmark = pytest.mark.integration

KIB = 1024


async def insert_sizes(pool: asyncpg.Pool, *sizes: int) -> list[int]:
    """Rows whose payloads have exactly these sizes; returns their ids, oldest first."""
    rows = await pool.fetch(
        "INSERT INTO outbox (topic, task_id, payload)"
        " SELECT 'task.processed', $1::uuid, convert_to(repeat('x', n), 'UTF8')"
        " FROM unnest($2::int[]) WITH ORDINALITY AS s(n, i) ORDER BY i RETURNING id",
        str(uuid.uuid4()),
        list(sizes),
    )
    return [row["id"] for row in rows]


async def unheld(pool: asyncpg.Pool) -> list[int]:
    """Rows no transaction holds, seen from a connection of its own."""
    async with pool.acquire() as connection, connection.transaction():
        rows = await connection.fetch("SELECT id FROM outbox ORDER BY id FOR UPDATE SKIP LOCKED")
        return [row["id"] for row in rows]


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(database_url, min_size=1, max_size=4) as made:
        yield made


@contextlib.asynccontextmanager
async def held(store: PostgresOutboxStore, limits: ClaimLimits) -> AsyncIterator[ClaimedBatch]:
    """A claim kept open (rolled back at the end: nothing removed)."""
    async with store.claim(limits) as batch:
        yield batch


def ids(batch: ClaimedBatch) -> list[int]:
    return [event.id for event in batch.events]


class TestByteBoundedClaim:
    async def test_rows_larger_than_the_budget_are_claimed_one_at_a_time(
        self, pool: asyncpg.Pool
    ) -> None:
        rows = await insert_sizes(pool, 600 * KIB, 600 * KIB, 600 * KIB)
        store = PostgresOutboxStore(pool)

        async with held(store, ClaimLimits(rows=500, bytes=512 * KIB)) as batch:
            assert ids(batch) == rows[:1]
            assert len(batch.events[0].payload) == 600 * KIB
            assert batch.byte_limited

    async def test_small_rows_are_limited_by_the_row_count(self, pool: asyncpg.Pool) -> None:
        rows = await insert_sizes(pool, *[200] * 30)

        async with held(PostgresOutboxStore(pool), ClaimLimits(rows=20, bytes=8 << 20)) as batch:
            assert ids(batch) == rows[:20]
            assert not batch.byte_limited

    async def test_takes_the_oldest_rows_whose_sum_stays_within_the_budget(
        self, pool: asyncpg.Pool
    ) -> None:
        rows = await insert_sizes(pool, 300, 300, 300, 10)

        async with held(PostgresOutboxStore(pool), ClaimLimits(rows=500, bytes=700)) as batch:
            assert ids(batch) == rows[:2]  # row 4 fits, but row 3 comes first
            assert batch.byte_limited

    async def test_the_last_rows_of_the_outbox_are_not_a_byte_limited_batch(
        self, pool: asyncpg.Pool
    ) -> None:
        rows = await insert_sizes(pool, 300, 300)

        async with held(PostgresOutboxStore(pool), ClaimLimits(rows=500, bytes=700)) as batch:
            assert ids(batch) == rows
            assert not batch.byte_limited

    async def test_an_empty_outbox_claims_nothing(self, pool: asyncpg.Pool) -> None:
        async with held(PostgresOutboxStore(pool), ClaimLimits(rows=10, bytes=100)) as batch:
            assert ids(batch) == []


class TestClaimLocks:
    async def test_locks_no_row_it_does_not_return(self, pool: asyncpg.Pool) -> None:
        rows = await insert_sizes(pool, 300, 300, 300, 300, 300)

        async with held(PostgresOutboxStore(pool), ClaimLimits(rows=500, bytes=700)) as batch:
            assert ids(batch) == rows[:2]
            assert await unheld(pool) == rows[2:]

    async def test_two_claims_never_take_the_same_row(self, pool: asyncpg.Pool) -> None:
        rows = await insert_sizes(pool, *[300] * 7)
        store, limits = PostgresOutboxStore(pool), ClaimLimits(rows=500, bytes=700)

        async with held(store, limits) as first, held(store, limits) as second:
            # The second passes over the rows the first holds instead of coming back empty.
            assert ids(first) == rows[0:2]
            assert ids(second) == rows[2:4]
            assert await unheld(pool) == rows[4:]

    async def test_passes_over_a_big_row_another_claim_holds(self, pool: asyncpg.Pool) -> None:
        rows = await insert_sizes(pool, 600 * KIB, 10, 10)
        store, limits = PostgresOutboxStore(pool), ClaimLimits(rows=500, bytes=512 * KIB)

        async with held(store, limits) as first, held(store, limits) as second:
            assert ids(first) == rows[:1]
            assert ids(second) == rows[1:]

    async def test_concurrent_claims_share_the_outbox_without_overlap(
        self, pool: asyncpg.Pool, database_url: str
    ) -> None:
        await insert_sizes(pool, *([40 * KIB, 1 * KIB, 300 * KIB, 90] * 50))
        taken: list[list[int]] = []

        async def drain(store: PostgresOutboxStore) -> None:
            limits = ClaimLimits(rows=7, bytes=256 * KIB)
            while True:
                async with store.claim(limits) as batch:
                    if not batch.events:
                        return
                    assert (
                        len(batch.events) == 1
                        or sum(len(e.payload) for e in batch.events) <= 256 * KIB
                    )
                    taken.append(ids(batch))
                    await asyncio.sleep(0.001)  # hold the locks while the others claim
                    await batch.remove(ids(batch))

        async with asyncpg.create_pool(database_url, min_size=1, max_size=4) as other:
            await asyncio.gather(
                *(drain(PostgresOutboxStore(p)) for p in (pool, pool, other, other))
            )

        claimed = [row_id for batch in taken for row_id in batch]
        assert len(claimed) == len(set(claimed)) == 200
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 0


class TestClaimByTopic:
    async def test_a_claim_of_one_topic_passes_over_the_others_and_leaves_them_unlocked(
        self, pool: asyncpg.Pool
    ) -> None:
        created = await pool.fetch(
            "INSERT INTO outbox (topic, task_id, payload) SELECT 'task.created', $1::uuid,"
            " 'x' FROM generate_series(1, 3) RETURNING id",
            str(uuid.uuid4()),
        )
        processed = await insert_sizes(pool, 10, 10)
        store = PostgresOutboxStore(pool)
        only_processed = ClaimLimits(rows=10, bytes=KIB, topics=frozenset({"task.processed"}))

        async with held(store, only_processed) as batch:
            assert ids(batch) == processed
            assert await unheld(pool) == [row["id"] for row in created]

    async def test_a_claim_with_a_size_bound_on_created_rows_leaves_the_larger_ones(
        self, pool: asyncpg.Pool
    ) -> None:
        rows = await pool.fetch(
            "INSERT INTO outbox (topic, task_id, payload) SELECT 'task.created', $1::uuid,"
            " convert_to(repeat('x', n), 'UTF8') FROM unnest($2::int[]) WITH ORDINALITY"
            " AS s(n, i) ORDER BY i RETURNING id",
            str(uuid.uuid4()),
            [500, 50, 500, 60],
        )
        processed = await insert_sizes(pool, 900)
        store = PostgresOutboxStore(pool)
        small_created = ClaimLimits(rows=10, bytes=KIB * KIB, created_max_bytes=100)
        created = [row["id"] for row in rows]

        async with held(store, small_created) as batch:
            assert ids(batch) == [created[1], created[3], *processed]
            assert await unheld(pool) == [created[0], created[2]]
