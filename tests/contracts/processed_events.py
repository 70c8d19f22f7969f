"""The WebSocket service's ProcessedEvents port's contract, run against every adapter.

A subclass supplies a way to make the adapter around a body handler (`make_events`,
each one another replica, on a reachable broker), one whose broker cannot be reached
(`unreachable_events`), and a way to publish a `task.processed` body (`publish`).
Each test states one promise of the docstrings in `pyservices/websocket/ports.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from pyservices.websocket.ports import ProcessedEvents
from tests.contracts.collected import SECONDS, Collected

Handle = Callable[[bytes], object]
MakeEvents = Callable[[Handle], ProcessedEvents]
Publish = Callable[..., Awaitable[None]]  # (*bodies: bytes)


Handled = Collected[bytes]  # the bodies handed to the handler, in order


class Replicas:
    """Replicas of the adapter a test starts, each stopped at the end (shared by the
    contracts of the ProcessedEvents port)."""

    @pytest.fixture
    def make_events(self) -> MakeEvents:
        raise NotImplementedError("makes the adapter around a handler (a new replica each)")

    @pytest.fixture
    async def replicas(self, make_events: MakeEvents) -> AsyncIterator[list[ProcessedEvents]]:
        made: list[ProcessedEvents] = []
        yield made
        for events in made:
            await events.stop()

    async def started(
        self, make_events: MakeEvents, replicas: list[ProcessedEvents], handle: Handle
    ) -> ProcessedEvents:
        events = make_events(handle)
        replicas.append(events)
        await asyncio.wait_for(events.start(), SECONDS)
        return events


class ProcessedEventsContract(Replicas):
    @pytest.fixture
    def unreachable_events(self) -> ProcessedEvents:
        raise NotImplementedError("the adapter, its broker out of reach")

    @pytest.fixture
    def publish(self) -> Publish:
        raise NotImplementedError("publishes each body as a task.processed event, in order")

    async def test_once_started_each_event_is_handled_in_the_order_published(
        self, make_events: MakeEvents, replicas: list[ProcessedEvents], publish: Publish
    ) -> None:
        handled = Handled()
        await self.started(make_events, replicas, handled)
        bodies = [b'{"id": "1"}', b"", "é🚀".encode(), b"0" * 600_000]

        await publish(*bodies)

        assert await handled.take(4) == bodies
        assert await handled.none_more()

    async def test_every_replica_handles_every_event(
        self, make_events: MakeEvents, replicas: list[ProcessedEvents], publish: Publish
    ) -> None:
        first, second = Handled(), Handled()
        await self.started(make_events, replicas, first)
        await self.started(make_events, replicas, second)

        await publish(b"a", b"b")

        assert await first.take(2) == [b"a", b"b"]
        assert await second.take(2) == [b"a", b"b"]

    async def test_a_handler_failing_on_one_event_does_not_stop_the_next(
        self, make_events: MakeEvents, replicas: list[ProcessedEvents], publish: Publish
    ) -> None:
        handled = Handled()

        def handle(body: bytes) -> None:
            if body == b"bad":
                raise ValueError("a handler bug")
            handled(body)

        await self.started(make_events, replicas, handle)

        await publish(b"bad", b"good")

        assert await handled.take(1) == [b"good"]

    async def test_ping_is_true_only_between_start_and_stop(
        self, make_events: MakeEvents, replicas: list[ProcessedEvents]
    ) -> None:
        events = make_events(Handled())
        replicas.append(events)
        assert not await events.ping()

        await events.start()
        assert await events.ping()

        await events.stop()
        assert not await events.ping()

    async def test_nothing_is_handled_after_stop_and_stopping_twice_is_harmless(
        self, make_events: MakeEvents, replicas: list[ProcessedEvents], publish: Publish
    ) -> None:
        handled = Handled()
        events = await self.started(make_events, replicas, handled)

        await events.stop()
        await events.stop()
        await publish(b"late")

        assert await handled.none_more()

    async def test_start_raises_while_the_broker_cannot_be_reached(
        self, unreachable_events: ProcessedEvents
    ) -> None:
        with pytest.raises(Exception):  # noqa: B017 (whatever the client raises)
            await asyncio.wait_for(unreachable_events.start(), SECONDS)
        assert not await unreachable_events.ping()
