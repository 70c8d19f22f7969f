"""The EventPublisher port's contract, written once and run against every adapter.

A subclass supplies the adapter, connected to a broker with nothing queued
(`publisher`), a way to take what reached a work queue or the processed exchange
(`delivered`), a way to make the broker not take one event (`refuse`), a time
while the broker blocks the publisher's connection (`broker_blocks`, a resource
alarm) and one while it drops and refuses that connection (`broker_outage`). Each
test states one promise of the docstrings in `pyservices/publisher/ports.py`; the
routes are those of `pyservices/common/topology.py`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace

import pytest

from pyservices.common.events import TASK_CREATED, TASK_PROCESSED
from pyservices.common.topology import (
    LARGE_PROCESS_QUEUE,
    LARGE_TASK_BYTES,
    PROCESS_QUEUE,
    PROCESSED_EXCHANGE,
)
from pyservices.publisher.domain import BrokerBlocked, OutboxEvent
from pyservices.publisher.ports import EventPublisher

DESTINATIONS = (PROCESS_QUEUE, LARGE_PROCESS_QUEUE, PROCESSED_EXCHANGE)


@dataclass(frozen=True)
class Delivered:
    """A message as a consumer receives it."""

    message_id: str
    task_id: str
    body: bytes
    traceparent: str | None = None  # its `traceparent` header, if any


Take = Callable[[str], Awaitable[list[Delivered]]]
Refuse = Callable[[OutboxEvent], Awaitable[None]]
BrokerBlocks = Callable[[], AbstractAsyncContextManager[None]]
BrokerOutage = Callable[[], AbstractAsyncContextManager[None]]

_ids = itertools.count(1)
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def outbox_event(topic: str = TASK_CREATED, size: int = 40) -> OutboxEvent:
    """An outbox row with a unique id; its payload compact JSON (as the outbox's are)
    of exactly `size` bytes."""
    row_id = next(_ids)
    start = f'{{"n":{row_id},"pad":"'
    payload = (start + "x" * (size - len(start) - 2) + '"}').encode()
    assert len(payload) == size
    return OutboxEvent(id=row_id, topic=topic, task_id=str(uuid.uuid4()), payload=payload)


def as_delivered(*events: OutboxEvent) -> list[Delivered]:
    return [Delivered(str(e.id), e.task_id, e.payload, e.trace_context) for e in events]


async def ping_is_true(publisher: EventPublisher) -> bool:
    try:
        return await publisher.ping() is True
    except Exception:  # raising is an answer too: /health shows it down
        return False


async def everywhere(take: Take) -> dict[str, list[Delivered]]:
    """What reached each destination, by message id."""
    return {
        where: sorted(await take(where), key=lambda d: int(d.message_id)) for where in DESTINATIONS
    }


class EventPublisherContract:
    @pytest.fixture
    async def publisher(self) -> EventPublisher:
        raise NotImplementedError("the adapter under test, on a broker with nothing queued")

    @pytest.fixture
    def delivered(self) -> Take:
        raise NotImplementedError("takes what reached this work queue or exchange so far")

    @pytest.fixture
    def refuse(self) -> Refuse:
        raise NotImplementedError("the broker will not take this task.created event")

    @pytest.fixture
    def broker_blocks(self) -> BrokerBlocks:
        raise NotImplementedError("while entered, the broker blocks the publisher")

    @pytest.fixture
    def broker_outage(self) -> BrokerOutage:
        raise NotImplementedError("while entered, the broker drops and refuses the publisher")

    # publish: where each event goes, as what
    async def test_a_task_goes_to_the_work_queue_as_it_was_stored(
        self, publisher: EventPublisher, delivered: Take
    ) -> None:
        task = outbox_event(TASK_CREATED)

        await publisher.publish(task)

        assert await everywhere(delivered) == {
            PROCESS_QUEUE: as_delivered(task),
            LARGE_PROCESS_QUEUE: [],
            PROCESSED_EXCHANGE: [],
        }

    async def test_a_task_over_the_large_task_size_goes_to_the_large_work_queue(
        self, publisher: EventPublisher, delivered: Take
    ) -> None:
        at_the_bound = outbox_event(TASK_CREATED, LARGE_TASK_BYTES)
        over_it = outbox_event(TASK_CREATED, LARGE_TASK_BYTES + 1)

        await publisher.publish(at_the_bound)
        await publisher.publish(over_it)

        assert await everywhere(delivered) == {
            PROCESS_QUEUE: as_delivered(at_the_bound),
            LARGE_PROCESS_QUEUE: as_delivered(over_it),
            PROCESSED_EXCHANGE: [],
        }

    async def test_a_result_goes_to_the_processed_exchange_only(
        self, publisher: EventPublisher, delivered: Take
    ) -> None:
        result = outbox_event(TASK_PROCESSED)

        await publisher.publish(result)

        assert await everywhere(delivered) == {
            PROCESS_QUEUE: [],
            LARGE_PROCESS_QUEUE: [],
            PROCESSED_EXCHANGE: as_delivered(result),
        }

    async def test_an_events_trace_context_goes_as_its_traceparent_header(
        self, publisher: EventPublisher, delivered: Take
    ) -> None:
        task = replace(outbox_event(TASK_CREATED), trace_context=TRACEPARENT)
        result = replace(outbox_event(TASK_PROCESSED), trace_context=TRACEPARENT)
        untraced = outbox_event(TASK_CREATED)

        assert await publisher.publish_many([task, result, untraced]) == [None, None, None]

        found = await everywhere(delivered)
        assert [d.traceparent for d in found[PROCESS_QUEUE]] == [TRACEPARENT, None]
        assert [d.traceparent for d in found[PROCESSED_EXCHANGE]] == [TRACEPARENT]

    async def test_publishes_in_flight_together_each_arrive_once(
        self, publisher: EventPublisher, delivered: Take
    ) -> None:
        small = [outbox_event(TASK_CREATED) for _ in range(30)]
        large = [outbox_event(TASK_CREATED, LARGE_TASK_BYTES + 1) for _ in range(5)]
        results = [outbox_event(TASK_PROCESSED) for _ in range(15)]

        await asyncio.gather(*(publisher.publish(e) for e in [*small, *large, *results]))

        assert await everywhere(delivered) == {
            PROCESS_QUEUE: as_delivered(*small),
            LARGE_PROCESS_QUEUE: as_delivered(*large),
            PROCESSED_EXCHANGE: as_delivered(*results),
        }

    async def test_an_event_of_an_unknown_topic_is_refused_and_sent_nowhere(
        self, publisher: EventPublisher, delivered: Take
    ) -> None:
        with pytest.raises(ValueError, match="unknown outbox topic"):
            await publisher.publish(outbox_event("task.deleted"))

        assert await everywhere(delivered) == {where: [] for where in DESTINATIONS}

    async def test_a_publish_the_broker_does_not_take_raises(
        self, publisher: EventPublisher, refuse: Refuse
    ) -> None:
        task = outbox_event(TASK_CREATED)
        await refuse(task)

        # Any exception: the relay keeps the row of any publish that raised.
        with pytest.raises(Exception):  # noqa: B017
            await publisher.publish(task)

    # publish_many: one outcome per event, each event on its own
    async def test_a_batch_goes_out_together_each_to_its_route_once(
        self, publisher: EventPublisher, delivered: Take
    ) -> None:
        small = [outbox_event(TASK_CREATED) for _ in range(30)]
        large = [outbox_event(TASK_CREATED, LARGE_TASK_BYTES + 1) for _ in range(3)]
        results = [outbox_event(TASK_PROCESSED) for _ in range(10)]
        events = [*small, *large, *results]

        assert await publisher.publish_many(events) == [None] * len(events)

        assert await everywhere(delivered) == {
            PROCESS_QUEUE: as_delivered(*small),
            LARGE_PROCESS_QUEUE: as_delivered(*large),
            PROCESSED_EXCHANGE: as_delivered(*results),
        }

    async def test_an_empty_batch_has_no_outcomes(self, publisher: EventPublisher) -> None:
        assert await publisher.publish_many([]) == []

    async def test_an_event_the_broker_does_not_take_fails_alone_in_its_batch(
        self, publisher: EventPublisher, delivered: Take, refuse: Refuse
    ) -> None:
        refused = outbox_event(TASK_CREATED)
        large = outbox_event(TASK_CREATED, LARGE_TASK_BYTES + 1)
        result = outbox_event(TASK_PROCESSED)
        await refuse(refused)

        outcomes = await publisher.publish_many([refused, large, result])

        assert isinstance(outcomes[0], Exception)
        assert outcomes[1:] == [None, None]
        assert await delivered(LARGE_PROCESS_QUEUE) == as_delivered(large)
        assert await delivered(PROCESSED_EXCHANGE) == as_delivered(result)

    async def test_an_unknown_topic_in_a_batch_is_refused_alone_and_sent_nowhere(
        self, publisher: EventPublisher, delivered: Take
    ) -> None:
        before, after = outbox_event(TASK_CREATED), outbox_event(TASK_CREATED)

        outcomes = await publisher.publish_many([before, outbox_event("task.deleted"), after])

        assert outcomes[0] is None and outcomes[2] is None
        assert isinstance(outcomes[1], ValueError)
        assert await everywhere(delivered) == {
            PROCESS_QUEUE: as_delivered(before, after),
            LARGE_PROCESS_QUEUE: [],
            PROCESSED_EXCHANGE: [],
        }

    async def test_while_the_broker_blocks_a_whole_batch_fails_at_once(
        self, publisher: EventPublisher, delivered: Take, broker_blocks: BrokerBlocks
    ) -> None:
        events = [outbox_event(TASK_CREATED), outbox_event(TASK_PROCESSED)]

        async with broker_blocks():
            outcomes = await asyncio.wait_for(publisher.publish_many(events), 1)

        assert all(isinstance(outcome, BrokerBlocked) for outcome in outcomes), outcomes
        assert len(outcomes) == len(events)
        assert await everywhere(delivered) == {where: [] for where in DESTINATIONS}

    # tasks_waiting
    async def test_tasks_waiting_answers_every_work_queue(self, publisher: EventPublisher) -> None:
        assert await publisher.tasks_waiting() == {PROCESS_QUEUE: 0, LARGE_PROCESS_QUEUE: 0}

    async def test_tasks_waiting_counts_the_tasks_published_and_not_yet_taken(
        self, publisher: EventPublisher
    ) -> None:
        events = [
            *(outbox_event(TASK_CREATED) for _ in range(3)),
            outbox_event(TASK_CREATED, LARGE_TASK_BYTES + 1),
            outbox_event(TASK_PROCESSED),
        ]
        await asyncio.gather(*(publisher.publish(e) for e in events))

        # At least those: a broker counts messages, and a message of task.process may
        # carry several tasks, so an adapter may answer an upper bound there.
        deadline = time.monotonic() + 3  # the answer may be a moment old
        while True:
            waiting = await publisher.tasks_waiting()
            if waiting[PROCESS_QUEUE] >= 3 and waiting[LARGE_PROCESS_QUEUE] == 1:
                break
            assert time.monotonic() < deadline, waiting
            await asyncio.sleep(0.1)

    # blocked by the broker
    async def test_a_new_publisher_is_not_blocked(self, publisher: EventPublisher) -> None:
        assert not publisher.blocked
        assert publisher.unblocked.is_set()

    async def test_while_the_broker_blocks_publishes_fail_at_once_and_resume_after(
        self, publisher: EventPublisher, delivered: Take, broker_blocks: BrokerBlocks
    ) -> None:
        before, during, after = (outbox_event(TASK_CREATED) for _ in range(3))
        await publisher.publish(before)

        async with broker_blocks():
            assert publisher.blocked
            assert not publisher.unblocked.is_set()
            with pytest.raises(BrokerBlocked):  # at once, not at a confirm timeout
                await asyncio.wait_for(publisher.publish(during), 1)

        assert not publisher.blocked
        await publisher.publish(after)
        assert await delivered(PROCESS_QUEUE) == as_delivered(before, after)

    async def test_ping_raises_broker_blocked_while_the_broker_blocks(
        self, publisher: EventPublisher, broker_blocks: BrokerBlocks
    ) -> None:
        async with broker_blocks():
            with pytest.raises(BrokerBlocked):
                await publisher.ping()

        assert await publisher.ping() is True

    # the connection
    async def test_ping_a_connected_publisher_is_true(self, publisher: EventPublisher) -> None:
        assert await publisher.ping() is True

    async def test_a_lost_connection_shows_in_ping_and_its_return_sets_reconnected(
        self, publisher: EventPublisher, delivered: Take, broker_outage: BrokerOutage
    ) -> None:
        publisher.reconnected.clear()

        async with broker_outage():
            deadline = time.monotonic() + 10
            while await ping_is_true(publisher):
                assert time.monotonic() < deadline, "ping still true without a connection"
                await asyncio.sleep(0.1)
            assert not publisher.reconnected.is_set()

        await asyncio.wait_for(publisher.reconnected.wait(), 20)
        assert await publisher.ping() is True
        task = outbox_event(TASK_CREATED)
        await publisher.publish(task)
        assert await delivered(PROCESS_QUEUE) == as_delivered(task)
