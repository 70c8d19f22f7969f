"""The OutboxStore port's contract (with its ClaimedBatch), written once and run against
every adapter.

A subclass supplies the adapter on an empty outbox (`store`), a way to put rows in it
as the task service does (`add`), and a time while the store cannot be reached
(`outage`). Each test states one promise of the docstrings in
`pyservices/publisher/ports.py`; claims held open at once stand for relays running
side by side.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

import pytest

from pyservices.common.events import TASK_CREATED, TASK_PROCESSED
from pyservices.publisher.domain import ClaimLimits, OutboxEvent
from pyservices.publisher.ports import OutboxStore

KIB = 1024
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
EVERYTHING = ClaimLimits(rows=1_000_000, bytes=1 << 40)
Outage = Callable[[], AbstractAsyncContextManager[None]]


class AddRows(Protocol):
    async def __call__(
        self, *sizes: int, topic: str = TASK_PROCESSED, trace_context: str | None = None
    ) -> list[OutboxEvent]:
        """One row of `topic` per size, its payload exactly that many bytes, added in
        this order (so oldest first), each with `trace_context`; returns them as stored."""


def ids(events: Sequence[OutboxEvent]) -> list[int]:
    return [event.id for event in events]


async def unheld(store: OutboxStore) -> list[OutboxEvent]:
    """The rows no claim holds, oldest first (claimed and let go: nothing removed)."""
    async with store.claim(EVERYTHING) as batch:
        return list(batch.events)


class OutboxStoreContract:
    @pytest.fixture
    async def store(self) -> OutboxStore:
        raise NotImplementedError("the adapter under test, on an empty outbox")

    @pytest.fixture
    def add(self) -> AddRows:
        raise NotImplementedError("puts rows in the outbox `store` reads")

    @pytest.fixture
    def outage(self) -> Outage:
        raise NotImplementedError("while entered, `store` cannot reach its outbox")

    # claim: which rows, in which order
    async def test_an_empty_outbox_claims_nothing(self, store: OutboxStore) -> None:
        async with store.claim(ClaimLimits(rows=10, bytes=100)) as batch:
            assert list(batch.events) == []
            assert not batch.byte_limited

    async def test_claims_the_oldest_rows_as_stored_up_to_the_row_limit(
        self, store: OutboxStore, add: AddRows
    ) -> None:
        rows = await add(*[200] * 30)

        async with store.claim(ClaimLimits(rows=20, bytes=8 << 20)) as batch:
            assert list(batch.events) == rows[:20]
            assert not batch.byte_limited

    async def test_a_claimed_row_has_the_trace_context_stored_and_how_long_it_waited(
        self, store: OutboxStore, add: AddRows
    ) -> None:
        [traced] = await add(100, trace_context=TRACEPARENT)
        [untraced] = await add(100)

        async with store.claim(EVERYTHING) as batch:
            first, second = batch.events
        assert (first.id, first.trace_context) == (traced.id, TRACEPARENT)
        assert first.waited_ms is not None and first.waited_ms >= 0
        assert second == untraced
        assert (second.trace_context, second.waited_ms) == (None, None)

    async def test_takes_the_oldest_rows_whose_sum_stays_within_the_budget(
        self, store: OutboxStore, add: AddRows
    ) -> None:
        rows = await add(300, 300, 300, 10)

        async with store.claim(ClaimLimits(rows=500, bytes=700)) as batch:
            assert ids(batch.events) == ids(rows[:2])  # row 4 fits, but row 3 comes first
            assert batch.byte_limited

    async def test_a_row_that_fills_the_budget_exactly_is_taken(
        self, store: OutboxStore, add: AddRows
    ) -> None:
        rows = await add(300, 400, 1)

        async with store.claim(ClaimLimits(rows=500, bytes=700)) as batch:
            assert ids(batch.events) == ids(rows[:2])
            assert batch.byte_limited

    async def test_a_row_larger_than_the_budget_is_claimed_alone(
        self, store: OutboxStore, add: AddRows
    ) -> None:
        rows = await add(600 * KIB, 600 * KIB, 600 * KIB)

        async with store.claim(ClaimLimits(rows=500, bytes=512 * KIB)) as batch:
            assert list(batch.events) == rows[:1]
            assert batch.byte_limited

    async def test_the_last_rows_of_the_outbox_are_not_a_byte_limited_batch(
        self, store: OutboxStore, add: AddRows
    ) -> None:
        rows = await add(300, 300)

        async with store.claim(ClaimLimits(rows=500, bytes=700)) as batch:
            assert ids(batch.events) == ids(rows)
            assert not batch.byte_limited

    async def test_a_claim_of_some_topics_passes_over_the_others_and_leaves_them_unlocked(
        self, store: OutboxStore, add: AddRows
    ) -> None:
        created = await add(1, 1, 1, topic=TASK_CREATED)
        processed = await add(10, 10)
        only_processed = ClaimLimits(rows=10, bytes=KIB, topics=frozenset({TASK_PROCESSED}))

        async with store.claim(only_processed) as batch:
            assert ids(batch.events) == ids(processed)
            assert await unheld(store) == created

    async def test_a_size_bound_on_created_rows_leaves_the_larger_ones_unlocked(
        self, store: OutboxStore, add: AddRows
    ) -> None:
        created = await add(500, 50, 500, 60, topic=TASK_CREATED)
        processed = await add(900)
        small_created = ClaimLimits(rows=10, bytes=KIB * KIB, created_max_bytes=100)

        async with store.claim(small_created) as batch:
            assert ids(batch.events) == ids([created[1], created[3], *processed])
            assert await unheld(store) == [created[0], created[2]]

    # claim: the row locks (what SKIP LOCKED gives PostgreSQL)
    async def test_locks_no_row_it_does_not_return(self, store: OutboxStore, add: AddRows) -> None:
        rows = await add(300, 300, 300, 300, 300)

        async with store.claim(ClaimLimits(rows=500, bytes=700)) as batch:
            assert ids(batch.events) == ids(rows[:2])
            assert await unheld(store) == rows[2:]

    async def test_two_claims_never_take_the_same_row(
        self, store: OutboxStore, add: AddRows
    ) -> None:
        rows = await add(*[300] * 7)
        limits = ClaimLimits(rows=500, bytes=700)

        async with store.claim(limits) as first, store.claim(limits) as second:
            # The second passes over the rows the first holds instead of coming back empty.
            assert ids(first.events) == ids(rows[0:2])
            assert ids(second.events) == ids(rows[2:4])
            assert await unheld(store) == rows[4:]

    async def test_passes_over_a_big_row_another_claim_holds(
        self, store: OutboxStore, add: AddRows
    ) -> None:
        rows = await add(600 * KIB, 10, 10)
        limits = ClaimLimits(rows=500, bytes=512 * KIB)

        async with store.claim(limits) as first, store.claim(limits) as second:
            assert ids(first.events) == ids(rows[:1])
            assert ids(second.events) == ids(rows[1:])
            assert not second.byte_limited

    async def test_concurrent_claims_share_the_outbox_without_overlap(
        self, store: OutboxStore, add: AddRows
    ) -> None:
        rows = await add(*([40 * KIB, 1 * KIB, 300 * KIB, 90] * 25))
        taken: list[list[int]] = []

        async def drain() -> None:
            limits = ClaimLimits(rows=7, bytes=256 * KIB)
            while True:
                async with store.claim(limits) as batch:
                    if not batch.events:
                        return
                    sizes = [len(event.payload) for event in batch.events]
                    assert len(sizes) == 1 or sum(sizes) <= 256 * KIB
                    taken.append(ids(batch.events))
                    await asyncio.sleep(0.001)  # hold the locks while the others claim
                    await batch.remove(ids(batch.events))

        await asyncio.gather(*(drain() for _ in range(4)))

        claimed = [row_id for batch in taken for row_id in batch]
        assert sorted(claimed) == ids(rows)  # each row once
        assert await unheld(store) == []

    # remove, and the end of the claim
    async def test_removes_only_the_rows_it_names_when_the_claim_ends(
        self, store: OutboxStore, add: AddRows
    ) -> None:
        rows = await add(10, 10, 10)

        async with store.claim(EVERYTHING) as batch:
            await batch.remove([rows[1].id])
            assert (await store.backlog()).count == 3  # not before the claim ends

        assert await unheld(store) == [rows[0], rows[2]]
        assert (await store.backlog()).count == 2

    async def test_removing_no_rows_removes_nothing(self, store: OutboxStore, add: AddRows) -> None:
        rows = await add(10, 10)

        async with store.claim(EVERYTHING) as batch:
            await batch.remove([])

        assert await unheld(store) == rows

    async def test_a_claim_whose_block_raises_removes_nothing_and_lets_its_rows_go(
        self, store: OutboxStore, add: AddRows
    ) -> None:
        rows = await add(10, 10)

        with pytest.raises(RuntimeError):
            async with store.claim(EVERYTHING) as batch:
                await batch.remove(ids(batch.events))
                raise RuntimeError("the publishes failed")

        assert await unheld(store) == rows

    async def test_claims_fail_while_the_store_is_out_of_reach_and_no_row_is_lost(
        self, store: OutboxStore, add: AddRows, outage: Outage
    ) -> None:
        rows = await add(10, 10)

        async with outage():
            # Any exception: the relay backs off and claims again after any of them.
            with pytest.raises(Exception):  # noqa: B017
                async with store.claim(EVERYTHING):
                    pass
            with pytest.raises(Exception):  # noqa: B017
                await store.backlog()

        assert await unheld(store) == rows
        assert (await store.backlog()).count == 2

    # ping
    async def test_ping_a_reachable_store_is_true(self, store: OutboxStore) -> None:
        assert await store.ping() is True

    async def test_ping_is_not_true_while_the_store_is_out_of_reach(
        self, store: OutboxStore, outage: Outage
    ) -> None:
        async with outage():
            try:
                answered = await asyncio.wait_for(store.ping(), 5)
            except Exception:  # raising is an answer too: /health shows it down
                answered = False
            assert answered is False

        assert await store.ping() is True

    # backlog
    async def test_the_backlog_of_an_empty_outbox_is_nothing(self, store: OutboxStore) -> None:
        backlog = await store.backlog()

        assert (backlog.count, backlog.oldest_age_seconds) == (0, 0.0)

    async def test_the_backlog_counts_every_row_claimed_or_not(
        self, store: OutboxStore, add: AddRows
    ) -> None:
        await add(10, 10, 10)

        async with store.claim(ClaimLimits(rows=1, bytes=KIB)):
            backlog = await store.backlog()

        assert backlog.count == 3
        assert backlog.oldest_age_seconds >= 0
