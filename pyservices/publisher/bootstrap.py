"""Wiring of the relay: each adapter a parameter, the real one by default.

The real store and publisher connect (with backoff) when the service starts, so the
relay starts, and reports itself unhealthy, before PostgreSQL or RabbitMQ is up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from pyservices.common import lifecycle
from pyservices.common.backoff import until_connected
from pyservices.common.lifecycle import Step
from pyservices.common.ops import HealthCheck
from pyservices.publisher.adapters.listener import OutboxListener
from pyservices.publisher.adapters.postgres import PostgresOutboxStore
from pyservices.publisher.adapters.rabbitmq import AmqpEventPublisher
from pyservices.publisher.ports import EventPublisher, OutboxStore, OutboxWakeups
from pyservices.publisher.settings import PublisherSettings
from pyservices.publisher.usecases import OutboxRelay

POOL_CLOSE_SECONDS = 5.0


async def connect_pool(settings: PublisherSettings) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        settings.database_url,
        min_size=1,
        max_size=max(2, settings.database_pool_max),
        reset=lifecycle.keep_session,
    )


async def connect_publisher(settings: PublisherSettings) -> AmqpEventPublisher:
    return await AmqpEventPublisher.connect(
        settings.rabbitmq_url,
        settings.publish_timeout_seconds,
        reconnect_interval=settings.broker_reconnect_seconds,
        large_task_bytes=settings.large_task_bytes,
        tasks_per_message=settings.tasks_per_message,
    )


class PublisherProcess(lifecycle.Service):
    name = "publisher"

    def __init__(
        self,
        settings: PublisherSettings,
        store: OutboxStore | None,
        publisher: EventPublisher | None,
        wakeups: OutboxWakeups,
    ) -> None:
        self.settings, self.store, self.publisher = settings, store, publisher
        self.wakeups = wakeups
        self.grace, self.host = settings.shutdown_grace_seconds, settings.host
        self.ops_port = settings.metrics_port
        self._pool: asyncpg.Pool | None = None  # made here, so closed here
        self._own_publisher: AmqpEventPublisher | None = None
        self._running: list[asyncio.Task[None]] = []

    @property
    def checks(self) -> Mapping[str, HealthCheck]:
        return {"database": self._database_ok, "broker": self._broker_ok}

    async def _database_ok(self) -> bool:
        store = self.store
        return store is not None and await self.wakeups.ping() and await store.ping()

    async def _broker_ok(self) -> bool:
        return self.publisher is not None and await self.publisher.ping()

    def describe(self) -> Mapping[str, Any]:
        return {"port": self.ops_port}

    async def start(self, stop: asyncio.Event) -> None:
        if self.store is None:
            self._pool = await until_connected(
                lambda: connect_pool(self.settings), stop, "database"
            )
            if self._pool is None:
                return
            self.store = PostgresOutboxStore(self._pool)
        if self.publisher is None:
            self._own_publisher = await until_connected(
                lambda: connect_publisher(self.settings), stop, "broker"
            )
            if self._own_publisher is None:
                return
            self.publisher = self._own_publisher
        s = self.settings
        relay = OutboxRelay(
            self.store,
            self.publisher,
            self.wakeups.wakeup,
            limits=s.claim_limits,
            fallback_poll=s.outbox_fallback_poll_seconds,
            max_queued_tasks=s.max_queued_tasks,
            large_task_bytes=s.large_task_bytes,
        )
        self._running = [
            asyncio.create_task(self.wakeups.run(stop)),
            asyncio.create_task(relay.run(stop)),
        ]

    async def drain(self, grace: float) -> None:
        # Let the batch in hand finish (its rows are deleted only if confirmed); a batch
        # cut short rolls back and is published again by the next relay: at-least-once.
        if not self._running:
            return
        _, pending = await asyncio.wait(self._running, timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def closing(self) -> Sequence[Step]:
        steps = []
        if (publisher := self._own_publisher) is not None:
            steps.append(Step("broker_close", publisher.close))
        if (pool := self._pool) is not None:
            close = lambda: lifecycle.close_pool(pool, POOL_CLOSE_SECONDS)  # noqa: E731
            steps.append(Step("database_pool_close", close, POOL_CLOSE_SECONDS + 1))
        return steps


def build(
    settings: PublisherSettings,
    *,
    store: OutboxStore | None = None,
    publisher: EventPublisher | None = None,
    wakeups: OutboxWakeups | None = None,
) -> PublisherProcess:
    wakeups = wakeups or OutboxListener(settings.database_url)
    return PublisherProcess(settings, store, publisher, wakeups)
