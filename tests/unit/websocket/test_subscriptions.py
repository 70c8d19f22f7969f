"""The taskProcessed use case and a GraphQL connection's feed, with fakes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator
from datetime import UTC, datetime

import pytest

from pyservices.common.events import TaskProcessed
from pyservices.websocket.domain import (
    MAX_SUBSCRIBED_IDS,
    TOO_SLOW,
    BufferBudget,
    ClientRegistry,
    InvalidIds,
    LookupUnavailable,
    ResultFilter,
    UnknownTasks,
    frame_of,
    subscribed_ids,
)
from pyservices.websocket.subscriptions import SubscriptionFeed, subscribe_processed_tasks
from tests.unit.websocket.websocket_fakes import FakeTaskLookup

A = "01000001"


def result(task_id: str | None = None, code: str = A) -> TaskProcessed:
    now = datetime.now(UTC)
    return TaskProcessed(task_id or str(uuid.uuid4()), code, now, now)


def feed(frames: int = 100) -> SubscriptionFeed:
    return SubscriptionFeed(BufferBudget(frames, 1 << 30))


async def take(events: AsyncGenerator[TaskProcessed, None], count: int) -> list[str]:
    return [(await asyncio.wait_for(anext(events), 1)).id for _ in range(count)]


class TestSubscribedIds:
    def test_none_follows_every_task(self) -> None:
        assert subscribed_ids(None) is None

    def test_ids_are_read_as_uuids(self) -> None:
        task_id = uuid.uuid4()
        assert subscribed_ids([str(task_id).upper(), str(task_id)]) == frozenset({str(task_id)})

    def test_as_many_ids_as_one_send_task_holds_are_taken_and_no_more(self) -> None:
        ids = [str(uuid.uuid4()) for _ in range(MAX_SUBSCRIBED_IDS + 1)]
        assert subscribed_ids(ids[:-1]) is not None
        with pytest.raises(InvalidIds, match="at most 1000"):
            subscribed_ids(ids)

    def test_an_id_that_is_not_a_uuid_is_named(self) -> None:
        with pytest.raises(InvalidIds, match="'task-1'"):
            subscribed_ids([str(uuid.uuid4()), "task-1"])


def test_a_filter_with_ids_takes_each_once_and_is_done_after_the_last() -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    wanted = ResultFilter(frozenset({first, second}))

    assert [wanted.take(i) for i in (first, first, str(uuid.uuid4()))] == [True, False, False]
    assert not wanted.done
    assert wanted.take(second) and wanted.done


def test_unknown_tasks_name_ten_in_the_message_and_all_in_ids() -> None:
    ids = [f"id-{n:02d}" for n in range(12)]
    unknown = UnknownTasks(ids)
    assert str(unknown).endswith("id-09 and 2 more")
    assert unknown.ids == ids


async def test_without_ids_every_result_offered_is_sent_in_order() -> None:
    connection, registry = feed(), ClientRegistry()
    registry.add(connection)
    events = await subscribe_processed_tasks(None, connection, FakeTaskLookup(), None, 4)
    results = [result() for _ in range(3)]
    for event in results:
        registry.broadcast(frame_of(event))

    assert await take(events, 3) == [event.id for event in results]
    await events.aclose()
    assert connection.subscriptions == set() and connection.budget.frames == 0


async def test_a_result_that_comes_during_the_lookup_is_not_missed_and_sent_once() -> None:
    connection, registry, lookup = feed(), ClientRegistry(), FakeTaskLookup()
    registry.add(connection)
    early, racing, later = lookup.add(), lookup.add(), lookup.add()
    lookup.process(early, A)

    class RacingLookup(FakeTaskLookup):
        """The task `racing` is processed while the lookup runs: found and pushed."""

        async def processed(self, task_id: str, owner: str | None) -> TaskProcessed | None:
            if task_id == racing:
                registry.broadcast(frame_of(lookup.process(racing, A)))
            return await lookup.processed(task_id, owner)

    events = await subscribe_processed_tasks(
        [early, racing, later], connection, RacingLookup(), None, 1
    )
    registry.broadcast(frame_of(lookup.process(later, A)))
    registry.broadcast(frame_of(lookup.process(early, A)))  # again: at least once

    assert sorted([i async for i in _ids(events)]) == sorted([early, racing, later])
    assert connection.budget.frames == 0


async def _ids(events: AsyncGenerator[TaskProcessed, None]) -> AsyncGenerator[str, None]:
    async for event in events:
        yield event.id


async def test_unknown_ids_are_all_named_and_nothing_is_subscribed() -> None:
    connection, lookup = feed(), FakeTaskLookup()
    known, absent, other = lookup.add(), str(uuid.uuid4()), str(uuid.uuid4())

    with pytest.raises(UnknownTasks) as unknown:
        await subscribe_processed_tasks([known, absent, other], connection, lookup, None, 2)

    assert unknown.value.ids == sorted([absent, other])
    assert connection.subscriptions == set()


async def test_another_owners_task_is_unknown() -> None:
    lookup = FakeTaskLookup()
    alices = lookup.add("alice")

    with pytest.raises(UnknownTasks):
        await subscribe_processed_tasks([alices], feed(), lookup, "bob", 2)


async def test_a_task_service_that_is_down_refuses_the_subscription() -> None:
    connection = feed()
    with pytest.raises(LookupUnavailable):
        await subscribe_processed_tasks(
            [str(uuid.uuid4())], connection, FakeTaskLookup(reachable=False), None, 2
        )
    assert connection.subscriptions == set()


async def test_lookups_run_at_most_concurrency_at_a_time() -> None:
    class CountingLookup(FakeTaskLookup):
        running = peak = 0

        async def processed(self, task_id: str, owner: str | None) -> TaskProcessed | None:
            CountingLookup.running += 1
            CountingLookup.peak = max(CountingLookup.peak, CountingLookup.running)
            await asyncio.sleep(0.001)
            CountingLookup.running -= 1
            return await super().processed(task_id, owner)

    lookup = CountingLookup()
    ids = [lookup.add() for _ in range(50)]
    await subscribe_processed_tasks(ids, feed(), lookup, None, 4)

    assert CountingLookup.peak == 4 and lookup.asked == 50


async def test_a_connection_that_stops_reading_is_dropped_as_too_slow() -> None:
    connection, registry = feed(frames=3), ClientRegistry()
    registry.add(connection)
    await subscribe_processed_tasks(None, connection, FakeTaskLookup(), None, 2)
    await subscribe_processed_tasks(None, connection, FakeTaskLookup(), None, 2)

    fan_outs = [registry.broadcast(frame_of(result())) for _ in range(2)]

    assert [len(f.dropped) for f in fan_outs] == [0, 1]  # one budget for both
    assert connection.drop_reason == TOO_SLOW and len(registry) == 0


async def test_results_that_come_during_the_lookup_hold_no_budget_and_are_sent_once() -> None:
    """The client can read nothing before the lookup ends: the results offered meanwhile
    must not count as if it were too slow, however many the subscription names."""
    connection, registry, lookup = feed(frames=10), ClientRegistry(), FakeTaskLookup()
    registry.add(connection)
    ids = [lookup.add() for _ in range(30)]

    class BusyLookup(FakeTaskLookup):
        """All 30 are processed and pushed, twice, while the first is being looked up."""

        async def processed(self, task_id: str, owner: str | None) -> TaskProcessed | None:
            found = await lookup.processed(task_id, owner)
            if task_id == min(ids) and found is None:
                for other in ids * 2:
                    fan_out = registry.broadcast(frame_of(lookup.process(other, A)))
                    assert not fan_out.dropped
            return found

    events = await subscribe_processed_tasks(ids, connection, BusyLookup(), None, 1)

    assert connection.drop_reason is None
    assert sorted([i async for i in _ids(events)]) == sorted(ids)
    assert connection.budget.frames == 0


async def test_a_result_delivered_twice_is_queued_once() -> None:
    connection, registry, lookup = feed(frames=1), ClientRegistry(), FakeTaskLookup()
    registry.add(connection)
    first, second = lookup.add(), lookup.add()
    events = await subscribe_processed_tasks([first, second], connection, lookup, None, 1)

    result_of_first = frame_of(lookup.process(first, A))
    assert not registry.broadcast(result_of_first).dropped
    assert not registry.broadcast(result_of_first).dropped  # a redelivery: not queued again
    assert await take(events, 1) == [first]
