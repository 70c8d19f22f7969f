"""The ProcessedEvents port routed by owner (access control on), run against every adapter.

A subclass supplies `make_events` (an adapter routed by owner around a body handler,
each call another replica) and `publish_as` (publishes bodies as one owner's results,
or no owner's with None). Each test states one promise of `follow` and `unfollow` in
`pyservices/websocket/ports.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import orjson
import pytest

from pyservices.websocket.ports import ProcessedEvents
from tests.contracts.collected import SECONDS, Collected
from tests.contracts.processed_events import MakeEvents, Replicas

PublishAs = Callable[..., Awaitable[None]]  # (owner: str | None, *bodies: bytes)


def body(owner: str | None, n: int) -> bytes:
    return orjson.dumps({"id": f"{owner}-{n}", "owner": owner})


class ProcessedEventsByOwnerContract(Replicas):
    @pytest.fixture
    def publish_as(self) -> PublishAs:
        raise NotImplementedError("publishes bodies as results of an owner, in order")

    async def test_nothing_is_received_before_an_owner_is_followed(
        self, make_events: MakeEvents, replicas: list[ProcessedEvents], publish_as: PublishAs
    ) -> None:
        handled = Collected[bytes]()
        await self.started(make_events, replicas, handled)

        await publish_as("alice", body("alice", 1))
        await publish_as(None, body(None, 1))

        assert await handled.none_more()

    async def test_only_the_followed_owners_events_are_received(
        self, make_events: MakeEvents, replicas: list[ProcessedEvents], publish_as: PublishAs
    ) -> None:
        handled = Collected[bytes]()
        events = await self.started(make_events, replicas, handled)
        await events.follow("alice")

        await publish_as("bob", body("bob", 1))
        await publish_as(None, body(None, 1))
        await publish_as("alice", body("alice", 1), body("alice", 2))

        assert await handled.take(2) == [body("alice", 1), body("alice", 2)]
        assert await handled.none_more()

    async def test_each_replica_receives_the_owners_it_follows(
        self, make_events: MakeEvents, replicas: list[ProcessedEvents], publish_as: PublishAs
    ) -> None:
        first, second = Collected[bytes](), Collected[bytes]()
        await (await self.started(make_events, replicas, first)).follow("alice")
        both = await self.started(make_events, replicas, second)
        await both.follow("alice")
        await both.follow("bob")

        await publish_as("alice", body("alice", 1))
        await publish_as("bob", body("bob", 1))

        assert await first.take(1) == [body("alice", 1)]
        assert await second.take(2) == [body("alice", 1), body("bob", 1)]
        assert await first.none_more()

    async def test_after_unfollow_the_owners_events_stop(
        self, make_events: MakeEvents, replicas: list[ProcessedEvents], publish_as: PublishAs
    ) -> None:
        handled = Collected[bytes]()
        events = await self.started(make_events, replicas, handled)
        await events.follow("alice")
        await events.follow("bob")

        await events.unfollow("alice")
        await events.unfollow("carol")  # never followed: harmless
        await publish_as("alice", body("alice", 1))
        await publish_as("bob", body("bob", 1))

        assert await handled.take(1) == [body("bob", 1)]
        assert await handled.none_more()

    async def test_an_owner_followed_before_start_is_received_from_start(
        self, make_events: MakeEvents, replicas: list[ProcessedEvents], publish_as: PublishAs
    ) -> None:
        handled = Collected[bytes]()
        events = make_events(handled)
        replicas.append(events)
        await events.follow("alice")

        await asyncio.wait_for(events.start(), SECONDS)
        await publish_as("alice", body("alice", 1))

        assert await handled.take(1) == [body("alice", 1)]
