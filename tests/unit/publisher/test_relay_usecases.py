from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY

from pyservices.publisher.domain import Backlog, ClaimLimits, OutboxEvent
from pyservices.publisher.usecases import OutboxRelay, measure_backlog, relay_batch
from tests.unit.publisher.relay_fakes import FakeOutbox, FakePublisher, event, limits


class HeldPublisher(FakePublisher):
    """Confirms each event, then returns from `publish` only once `release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def publish(self, event: OutboxEvent) -> None:
        await super().publish(event)
        await self.release.wait()


class TestRelayBatch:
    async def test_publishes_claimed_rows_then_removes_them(self) -> None:
        store, broker = FakeOutbox([event(1), event(2, "task.processed")]), FakePublisher()

        report = await relay_batch(store, broker, limits=limits(10))

        assert [e.id for e in broker.confirmed] == [1, 2]
        assert store.rows == {}
        assert (report.claimed, report.published, report.failed) == (2, 2, 0)

    async def test_all_publishes_of_a_batch_are_in_flight_together(self) -> None:
        store, broker = FakeOutbox(event(i) for i in range(1, 51)), FakePublisher()

        await relay_batch(store, broker, limits=limits(50))

        assert broker.max_in_flight == 50

    async def test_removes_the_batch_in_one_statement(self) -> None:
        store, broker = FakeOutbox(event(i) for i in range(1, 21)), FakePublisher()

        await relay_batch(store, broker, limits=limits(20))

        assert store.batches[0].remove_calls == 1

    async def test_an_unconfirmed_publish_leaves_its_row(self) -> None:
        store, broker = FakeOutbox(event(i) for i in range(1, 6)), FakePublisher(refuse={3})

        report = await relay_batch(store, broker, limits=limits(10))

        assert list(store.rows) == [3]
        assert (report.published, report.failed) == (4, 1)

    async def test_takes_at_most_a_batch_oldest_first(self) -> None:
        store, broker = FakeOutbox(event(i) for i in (5, 3, 9, 1)), FakePublisher()

        await relay_batch(store, broker, limits=limits(2))

        assert [e.id for e in broker.confirmed] == [1, 3]
        assert sorted(store.rows) == [5, 9]

    async def test_an_empty_outbox_publishes_nothing(self) -> None:
        report = await relay_batch(FakeOutbox(), FakePublisher(), limits=limits(10))

        assert report.claimed == 0

    async def test_rows_stay_until_every_publish_of_the_batch_has_returned(self) -> None:
        store, broker = FakeOutbox([event(1), event(2)]), HeldPublisher()

        relaying = asyncio.create_task(relay_batch(store, broker, limits=limits(10)))
        for _ in range(2):
            await asyncio.wait_for(broker.arrived.get(), 2)

        assert sorted(store.rows) == [1, 2]  # confirmed, not yet deleted
        broker.release.set()
        await relaying
        assert store.rows == {}

    async def test_counts_published_events_by_topic(self) -> None:
        def published(topic: str) -> float:
            value = REGISTRY.get_sample_value("binconv_outbox_published_total", {"topic": topic})
            return value or 0.0

        before = published("task.processed")
        store = FakeOutbox([event(1, "task.processed"), event(2, "task.processed")])

        await relay_batch(store, FakePublisher(), limits=limits(10))

        assert published("task.processed") - before == 2


class TestMeasureBacklog:
    async def test_sets_the_backlog_gauges(self) -> None:
        await measure_backlog(FakeOutbox([event(1), event(2)]))

        assert REGISTRY.get_sample_value("binconv_outbox_backlog") == 2
        assert REGISTRY.get_sample_value("binconv_outbox_oldest_age_seconds") == 1.5


def relay(
    store: FakeOutbox,
    broker: FakePublisher,
    wakeup: asyncio.Event,
    *,
    claim: ClaimLimits | None = None,
    fallback_poll: float = 30.0,
) -> OutboxRelay:
    return OutboxRelay(
        store, broker, wakeup, limits=claim or limits(10), fallback_poll=fallback_poll
    )


class TestOutboxRelay:
    async def test_drains_full_batches_until_one_comes_back_short(self) -> None:
        store, broker = FakeOutbox(event(i) for i in range(1, 26)), FakePublisher()

        published = await relay(store, broker, asyncio.Event()).drain(asyncio.Event())

        assert published == 25
        assert [len(b.events) for b in store.batches] == [10, 10, 5]

    async def test_a_notification_wakes_it_without_waiting_for_the_fallback_poll(self) -> None:
        store, broker, wakeup, stop = (
            FakeOutbox(),
            FakePublisher(),
            asyncio.Event(),
            asyncio.Event(),
        )
        running = asyncio.create_task(relay(store, broker, wakeup, fallback_poll=30).run(stop))
        try:
            await asyncio.sleep(0.05)  # the relay is idle, waiting
            store.add(event(1))
            wakeup.set()

            arrived = await asyncio.wait_for(broker.arrived.get(), 2)

            assert arrived.id == 1
        finally:
            stop.set()
            await asyncio.wait_for(running, 2)

    async def test_the_backlog_is_counted_after_a_drain_at_most_once_a_second(self) -> None:
        store, broker, wakeup, stop = (
            FakeOutbox(),
            FakePublisher(),
            asyncio.Event(),
            asyncio.Event(),
        )
        counted = 0
        count_backlog = store.backlog

        async def backlog() -> Backlog:
            nonlocal counted
            counted += 1
            return await count_backlog()

        store.backlog = backlog  # type: ignore[method-assign]
        running = asyncio.create_task(relay(store, broker, wakeup, fallback_poll=30).run(stop))
        try:
            for task_id in range(1, 6):  # five notifications in well under a second
                store.add(event(task_id))
                wakeup.set()
                await asyncio.wait_for(broker.arrived.get(), 2)
            await asyncio.sleep(0.05)

            assert counted == 1  # the first drain's count, none of the next four
        finally:
            stop.set()
            await asyncio.wait_for(running, 2)

    async def test_the_fallback_poll_finds_rows_nobody_announced(self) -> None:
        store, broker, stop = FakeOutbox(), FakePublisher(), asyncio.Event()
        running = asyncio.create_task(
            relay(store, broker, asyncio.Event(), fallback_poll=0.05).run(stop)
        )
        try:
            store.add(event(7))

            assert (await asyncio.wait_for(broker.arrived.get(), 2)).id == 7
        finally:
            stop.set()
            await asyncio.wait_for(running, 2)

    async def test_retries_refused_publishes_with_backoff_until_confirmed(self) -> None:
        store, broker, stop = (
            FakeOutbox([event(1), event(2)]),
            FakePublisher(refuse={2}),
            asyncio.Event(),
        )
        subject = relay(store, broker, asyncio.Event())
        running = asyncio.create_task(subject.run(stop))
        try:
            await asyncio.wait_for(broker.arrived.get(), 2)
            assert list(store.rows) == [2]
            assert subject.failures >= 1
            broker.refuse.clear()  # the broker is back

            assert (await asyncio.wait_for(broker.arrived.get(), 2)).id == 2
            assert store.rows == {}
        finally:
            stop.set()
            await asyncio.wait_for(running, 2)

    async def test_a_restored_broker_connection_ends_the_backoff_at_once(self) -> None:
        store, broker, stop = FakeOutbox([event(1)]), FakePublisher(refuse={1}), asyncio.Event()
        subject = relay(store, broker, asyncio.Event())
        subject.failures = 20  # the next failure backs off for the full 5 s
        running = asyncio.create_task(subject.run(stop))
        try:
            await asyncio.wait_for(broker.refused.get(), 1)
            broker.refuse.clear()
            broker.reconnected.set()  # what the adapter does when the broker is back

            assert (await asyncio.wait_for(broker.arrived.get(), 1)).id == 1
        finally:
            stop.set()
            await asyncio.wait_for(running, 2)

    async def test_survives_a_database_outage(self) -> None:
        store, broker, stop = FakeOutbox([event(1)]), FakePublisher(), asyncio.Event()
        store.fail_claims = 2
        running = asyncio.create_task(relay(store, broker, asyncio.Event()).run(stop))
        try:
            assert (await asyncio.wait_for(broker.arrived.get(), 2)).id == 1
        finally:
            stop.set()
            await asyncio.wait_for(running, 2)

    async def test_stops_promptly_when_asked(self) -> None:
        stop = asyncio.Event()
        running = asyncio.create_task(
            relay(FakeOutbox(), FakePublisher(), asyncio.Event()).run(stop)
        )
        await asyncio.sleep(0.01)

        stop.set()

        await asyncio.wait_for(running, 1)


class TestHoldingBackNewTasks:
    async def test_created_events_stay_while_the_work_queue_is_full_and_results_still_go(
        self,
    ) -> None:
        store = FakeOutbox([event(1), event(2, "task.processed"), event(3)])
        broker = FakePublisher()
        broker.queued_tasks = {"task.process": 11}
        subject = OutboxRelay(
            store,
            broker,
            asyncio.Event(),
            limits=limits(10),
            fallback_poll=30.0,
            max_queued_tasks=10,
        )

        await subject.drain(asyncio.Event())

        assert [e.id for e in broker.confirmed] == [2]
        assert sorted(store.rows) == [1, 3]
        assert subject.holding_back
        assert REGISTRY.get_sample_value("binconv_relay_created_held_back") == 1

        broker.queued_tasks = {"task.process": 10}
        await subject.drain(asyncio.Event())

        assert [e.id for e in broker.confirmed] == [2, 1, 3]
        assert not subject.holding_back
        assert REGISTRY.get_sample_value("binconv_relay_created_held_back") == 0

    async def test_short_tasks_still_go_while_only_the_large_queue_is_full(self) -> None:
        store = FakeOutbox([event(1, size=500), event(2, size=50), event(3, size=500)])
        broker = FakePublisher()
        broker.queued_tasks = {"task.process.large": 11}
        subject = OutboxRelay(
            store,
            broker,
            asyncio.Event(),
            limits=limits(10),
            fallback_poll=30.0,
            max_queued_tasks=10,
            large_task_bytes=100,
        )

        await subject.drain(asyncio.Event())

        assert [e.id for e in broker.confirmed] == [2]
        assert sorted(store.rows) == [1, 3]
