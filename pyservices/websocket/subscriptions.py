"""GraphQL subscriptions to processed tasks: one connection's feed and the use case.

A GraphQL connection is one client of the registry (`SubscriptionFeed`), counted once
against the connection caps and followed once by owner, whatever number of
subscriptions it carries. Each result it is offered goes to the buffers of the
subscriptions that want it, under one budget for the connection: when the client stops
reading, the budget fills, the registry drops the feed as too slow, and the connection
is closed, as on /ws.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterable

from pyservices.common.events import TaskProcessed
from pyservices.common.logging import get_logger
from pyservices.websocket.domain import (
    BufferBudget,
    Frame,
    ResultFilter,
    UnknownTasks,
    subscribed_ids,
)
from pyservices.websocket.metrics import FRAMES_PUSHED, SUBSCRIPTIONS
from pyservices.websocket.ports import TaskLookup

log = get_logger(__name__)


class TaskSubscription:
    """One subscription's filter and the frames waiting for it.

    While its tasks are looked up (`looking_up`), the results offered are not queued,
    only their ids noted (`arrived`): the client can read nothing before the lookup
    ends, so frames queued meanwhile would count against its budget as if it were too
    slow (a 1,000-id subscription could fill the whole budget). Their results are read
    again afterwards."""

    def __init__(self, wanted: ResultFilter, looking_up: bool) -> None:
        self.filter = wanted
        self.frames: asyncio.Queue[Frame] = asyncio.Queue()  # bounded by the feed's budget
        self.looking_up = looking_up
        self.arrived: set[str] = set()


class SubscriptionFeed:
    """One GraphQL connection as the registry sees it (implements ports.Subscriber)."""

    def __init__(self, budget: BufferBudget) -> None:
        self.budget = budget
        self.subscriptions: set[TaskSubscription] = set()
        self.dropped = asyncio.Event()
        self.drop_reason: str | None = None

    def offer(self, frame: Frame) -> bool:
        event = frame.event
        if event is None:  # every frame the registry fans out is made by frame_of
            return True
        for subscription in self.subscriptions:
            if not subscription.filter.wants(event.id):
                continue
            if subscription.looking_up:
                subscription.arrived.add(event.id)
                continue
            if not self.budget.admit(frame):
                return False
            subscription.filter.queued(event.id)
            subscription.frames.put_nowait(frame)
        return True

    def drop(self, reason: str) -> None:
        self.drop_reason = reason
        self.dropped.set()


async def subscribe_processed_tasks(
    ids: Iterable[str] | None,
    feed: SubscriptionFeed,
    lookup: TaskLookup,
    owner: str | None,
    concurrency: int,
) -> AsyncGenerator[TaskProcessed, None]:
    """The results a subscription sends: with `ids`, each of those tasks' once, those
    already processed first, and then it ends; without, every result the connection is
    offered, until the client completes it.

    Raises before it returns (so the client gets an `error`, not a subscription that
    never ends): InvalidIds, UnknownTasks naming every id not found, LookupUnavailable.
    The subscription is registered before the lookup, so a task processed between the
    two is not missed: a result found both ways is sent once.
    """
    wanted = subscribed_ids(ids)
    subscription = TaskSubscription(ResultFilter(wanted), looking_up=bool(wanted))
    feed.subscriptions.add(subscription)
    try:
        found = await _processed(sorted(wanted), lookup, owner, concurrency) if wanted else []
        # From here results are queued; those that came during the lookup and were not
        # processed yet when it asked are read again (they are now: a result is
        # published only once it is recorded).
        subscription.looking_up = False
        again = subscription.arrived - {event.id for event in found}
        if again:
            found += await _processed(sorted(again), lookup, owner, concurrency)
    except BaseException:
        feed.subscriptions.discard(subscription)
        raise
    return _results(subscription, feed, found)


async def _results(
    subscription: TaskSubscription, feed: SubscriptionFeed, found: list[TaskProcessed]
) -> AsyncGenerator[TaskProcessed, None]:
    SUBSCRIPTIONS.inc()
    try:
        for event in found:
            if subscription.filter.take(event.id):
                yield event
        while not subscription.filter.done:
            frame = await subscription.frames.get()
            # Released once the frame is sent: the client's transport asks for the next
            # result only after writing this one.
            try:
                if frame.event is not None and subscription.filter.take(frame.event.id):
                    yield frame.event
                    FRAMES_PUSHED.inc()
            finally:
                feed.budget.release(frame)
    finally:
        SUBSCRIPTIONS.dec()
        feed.subscriptions.discard(subscription)
        while not subscription.frames.empty():  # what it will never send
            feed.budget.release(subscription.frames.get_nowait())


async def _processed(
    ids: list[str], lookup: TaskLookup, owner: str | None, concurrency: int
) -> list[TaskProcessed]:
    """The results of those of `ids` already processed, asking at most `concurrency`
    at a time; UnknownTasks naming every id not found."""
    limit = asyncio.Semaphore(concurrency)
    missing: list[str] = []

    async def one(task_id: str) -> TaskProcessed | None:
        async with limit:
            try:
                return await lookup.processed(task_id, owner)
            except UnknownTasks:
                missing.append(task_id)
                return None

    asked = [asyncio.ensure_future(one(task_id)) for task_id in ids]
    try:
        found = await asyncio.gather(*asked)
    except BaseException:  # LookupUnavailable, or the client gave up: stop asking
        for task in asked:
            task.cancel()
        await asyncio.gather(*asked, return_exceptions=True)
        raise
    if missing:
        raise UnknownTasks(sorted(missing))
    return [event for event in found if event is not None]
