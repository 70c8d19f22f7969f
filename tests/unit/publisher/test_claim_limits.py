"""A claim is bounded by bytes as well as rows, and that bounds the bytes in flight."""

from __future__ import annotations

import asyncio

from pyservices.publisher.domain import BatchReport, ClaimLimits
from pyservices.publisher.usecases import OutboxRelay, relay_batch
from tests.unit.publisher.relay_fakes import FakeOutbox, FakePublisher, event, limits


class TestClaimLimits:
    def test_the_first_row_is_taken_however_big(self) -> None:
        assert ClaimLimits(rows=10, bytes=100).admits(0, 0, size=10_000)

    def test_a_row_that_would_pass_the_byte_budget_is_left(self) -> None:
        budget = ClaimLimits(rows=10, bytes=100)

        assert budget.admits(1, 60, size=40)
        assert not budget.admits(1, 60, size=41)

    def test_no_row_past_the_row_limit(self) -> None:
        assert not ClaimLimits(rows=2, bytes=100).admits(2, 2, size=1)


class TestBatchReport:
    def test_a_batch_stopped_by_the_byte_budget_is_full(self) -> None:
        report = BatchReport(claimed=3, published=3, failed=0, byte_limited=True)

        assert report.is_full(limits(rows=500))

    def test_a_short_batch_within_both_limits_is_not_full(self) -> None:
        assert not BatchReport(claimed=3, published=3, failed=0).is_full(limits(rows=500))


class TestByteBoundedBatch:
    async def test_rows_larger_than_the_budget_go_out_one_at_a_time(self) -> None:
        store, broker = FakeOutbox(event(i, size=1000) for i in range(1, 4)), FakePublisher()

        report = await relay_batch(store, broker, limits(rows=500, bytes=600))

        assert [e.id for e in broker.confirmed] == [1]
        assert (report.claimed, report.byte_limited) == (1, True)

    async def test_takes_the_oldest_rows_that_fit_the_budget(self) -> None:
        sizes = {1: 300, 2: 300, 3: 300, 4: 10}
        store = FakeOutbox(event(i, size=n) for i, n in sizes.items())
        broker = FakePublisher()

        report = await relay_batch(store, broker, limits(rows=500, bytes=700))

        # Row 4 would fit, but it is younger than row 3: oldest first, no skipping ahead.
        assert [e.id for e in broker.confirmed] == [1, 2]
        assert report.byte_limited

    async def test_small_rows_are_limited_by_the_row_count(self) -> None:
        store, broker = FakeOutbox(event(i, size=10) for i in range(1, 31)), FakePublisher()

        report = await relay_batch(store, broker, limits(rows=20, bytes=1 << 20))

        assert (report.claimed, report.byte_limited) == (20, False)

    async def test_the_bytes_in_flight_never_pass_the_budget(self) -> None:
        sizes = [120, 80, 400, 30, 30, 250, 990, 5, 600, 100] * 3
        store = FakeOutbox(event(i, size=n) for i, n in enumerate(sizes, start=1))
        broker = FakePublisher()

        await OutboxRelay(
            store, broker, asyncio.Event(), limits=limits(rows=500, bytes=500), fallback_poll=30
        ).drain(asyncio.Event())

        assert store.rows == {}
        assert 0 < broker.max_bytes_in_flight <= 990  # the budget, or one bigger row alone
        for batch in store.batches:
            total = sum(len(e.payload) for e in batch.events)
            assert len(batch.events) == 1 or total <= 500

    async def test_a_drain_reads_again_after_a_batch_cut_by_bytes(self) -> None:
        store = FakeOutbox(event(i, size=1000) for i in range(1, 6))

        published = await OutboxRelay(
            store,
            FakePublisher(),
            asyncio.Event(),
            limits=limits(rows=500, bytes=1500),
            fallback_poll=30,
        ).drain(asyncio.Event())

        assert published == 5
        assert [len(b.events) for b in store.batches] == [
            1,
            1,
            1,
            1,
            1,
        ]  # the last stops at the end, not the budget
