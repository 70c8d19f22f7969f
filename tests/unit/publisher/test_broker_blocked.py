"""A broker that blocks publishers (a memory or disk alarm) is noticed at once, and the
relay waits for the block to lift instead of timing out batch after batch."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import aiormq
import pytest
from aio_pika.tools import CallbackCollection
from pamqp import commands as spec
from prometheus_client import REGISTRY

from pyservices.publisher.adapters.blocking import watch_blocking
from pyservices.publisher.adapters.rabbitmq import AmqpEventPublisher
from pyservices.publisher.domain import BrokerBlocked
from pyservices.publisher.usecases import OutboxRelay
from tests.unit.publisher.relay_fakes import FakeOutbox, FakePublisher, event, limits


def relay(store: FakeOutbox, broker: FakePublisher) -> OutboxRelay:
    return OutboxRelay(store, broker, asyncio.Event(), limits=limits(10), fallback_poll=0.05)


class TestRelayWhileBlocked:
    async def test_claims_nothing_while_blocked_and_publishes_once_unblocked(self) -> None:
        store, broker, stop = FakeOutbox([event(1), event(2)]), FakePublisher(), asyncio.Event()
        broker.block()
        running = asyncio.create_task(relay(store, broker).run(stop))
        try:
            await asyncio.sleep(0.2)  # four fallback polls' worth
            assert store.batches == []
            assert sorted(store.rows) == [1, 2]

            broker.unblock()

            arrived = [await asyncio.wait_for(broker.arrived.get(), 1) for _ in range(2)]
            assert [e.id for e in arrived] == [1, 2]
        finally:
            stop.set()
            await asyncio.wait_for(running, 2)

    async def test_a_batch_cut_short_by_a_block_resumes_without_the_backoff(self) -> None:
        store, broker, stop = FakeOutbox([event(1)]), FakePublisher(alarm_at={1}), asyncio.Event()
        subject = relay(store, broker)
        subject.failures = 20  # a plain failure now backs off for the full 5 s
        running = asyncio.create_task(subject.run(stop))
        try:
            await asyncio.wait_for(broker.refused.get(), 1)
            await asyncio.sleep(0.05)
            assert list(store.rows) == [1]

            broker.unblock()

            assert (await asyncio.wait_for(broker.arrived.get(), 1)).id == 1
        finally:
            stop.set()
            await asyncio.wait_for(running, 2)

    async def test_stops_promptly_while_blocked(self) -> None:
        broker, stop = FakePublisher(), asyncio.Event()
        broker.block()
        running = asyncio.create_task(relay(FakeOutbox([event(1)]), broker).run(stop))
        await asyncio.sleep(0.01)

        stop.set()

        await asyncio.wait_for(running, 1)


def aiormq_connection() -> aiormq.Connection:
    """Never connected, but in the state its reader starts it in (connected, unblocked):
    the frames are handed to its handlers directly."""
    connection = aiormq.Connection("amqp://guest:guest@127.0.0.1:1/")
    connection.connected.set()
    connection._Connection__connection_unblocked.set()  # type: ignore[attr-defined]
    return connection


async def block(connection: Any, reason: str = "low on memory") -> None:
    await connection._Connection__handle_connection_blocked(spec.Connection.Blocked(reason))


async def unblock(connection: Any) -> None:
    await connection._Connection__handle_connection_unblocked(spec.Connection.Unblocked())


class TestWatchBlocking:
    async def test_the_installed_aiormq_has_the_handlers_it_wraps(self) -> None:
        assert watch_blocking(aiormq_connection(), lambda _: None, lambda: None)

    async def test_reports_the_block_with_its_reason_then_the_unblock(self) -> None:
        connection, seen = aiormq_connection(), []
        watch_blocking(connection, lambda reason: seen.append(reason), lambda: seen.append("-"))

        await block(connection)
        await unblock(connection)

        assert seen == ["low on memory", "-"]

    async def test_aiormq_still_holds_its_own_writes_while_blocked(self) -> None:
        connection = aiormq_connection()
        watch_blocking(connection, lambda _: None, lambda: None)

        await block(connection)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(connection.ready(), 0.05)
        await unblock(connection)
        await asyncio.wait_for(connection.ready(), 1)

    async def test_a_block_that_came_before_the_watch_is_reported(self) -> None:
        connection, seen = aiormq_connection(), []
        connection._Connection__connection_unblocked.clear()  # type: ignore[attr-defined]

        watch_blocking(connection, lambda reason: seen.append(reason), lambda: None)

        assert len(seen) == 1

    async def test_a_connection_not_yet_reading_is_not_taken_for_blocked(self) -> None:
        seen: list[str] = []

        watch_blocking(
            aiormq.Connection("amqp://guest:guest@127.0.0.1:1/"), seen.append, lambda: None
        )

        assert seen == []

    async def test_an_aiormq_without_the_handlers_is_reported_unwatched(self) -> None:
        assert not watch_blocking(object(), lambda _: None, lambda: None)


class FakeRobustConnection:
    def __init__(self) -> None:
        self.reconnect_callbacks: CallbackCollection[Any, Any] = CallbackCollection(self)
        self.close_callbacks: CallbackCollection[Any, Any] = CallbackCollection(self)
        self.transport = SimpleNamespace(connection=aiormq_connection())


def blocked_gauge() -> float | None:
    return REGISTRY.get_sample_value("binconv_relay_broker_blocked")


class TestAmqpPublisherWhenBlocked:
    async def test_a_block_shows_on_the_publisher_and_the_gauge_at_once(self) -> None:
        connection = FakeRobustConnection()
        publisher = AmqpEventPublisher(connection, None, None, 1.0)  # type: ignore[arg-type]

        await block(connection.transport.connection)

        assert publisher.blocked and blocked_gauge() == 1
        with pytest.raises(BrokerBlocked):  # refused before a byte is sent
            await publisher.publish(event(1))
        await unblock(connection.transport.connection)
        assert not publisher.blocked and blocked_gauge() == 0

    async def test_a_new_connection_starts_unblocked_and_is_watched(self) -> None:
        connection = FakeRobustConnection()
        publisher = AmqpEventPublisher(connection, None, None, 1.0)  # type: ignore[arg-type]
        await block(connection.transport.connection)

        connection.transport = SimpleNamespace(connection=aiormq_connection())
        await connection.reconnect_callbacks()

        assert not publisher.blocked and publisher.reconnected.is_set()
        await block(connection.transport.connection)
        assert publisher.blocked

    async def test_a_lost_connection_no_longer_counts_as_blocked(self) -> None:
        connection = FakeRobustConnection()
        publisher = AmqpEventPublisher(connection, None, None, 1.0)  # type: ignore[arg-type]
        await block(connection.transport.connection)

        await connection.close_callbacks(ConnectionError("lost"))

        assert not publisher.blocked and blocked_gauge() == 0
