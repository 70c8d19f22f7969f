"""Composition root of the relay: settings, real adapters, the loop, and a clean stop."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from pyservices.common import lifecycle, ops
from pyservices.common.backoff import until_connected
from pyservices.common.logging import get_logger
from pyservices.publisher.adapters.listener import OutboxListener
from pyservices.publisher.adapters.postgres import PostgresOutboxStore
from pyservices.publisher.adapters.rabbitmq import AmqpEventPublisher
from pyservices.publisher.domain import BrokerBlocked
from pyservices.publisher.settings import PublisherSettings
from pyservices.publisher.usecases import OutboxRelay

log = get_logger(__name__)


async def run(settings: PublisherSettings, stop: asyncio.Event) -> None:
    state: dict[str, object] = {}

    async def database_ok() -> bool:
        store, listener = state.get("store"), state.get("listener")
        if not isinstance(store, PostgresOutboxStore) or not isinstance(listener, OutboxListener):
            return False
        return listener.listening and await store.ping()

    async def broker_ok() -> bool:
        publisher = state.get("publisher")
        if isinstance(publisher, AmqpEventPublisher) and publisher.blocked:
            raise BrokerBlocked  # shown as "down: BrokerBlocked": a resource alarm
        return isinstance(publisher, AmqpEventPublisher) and publisher.connected

    server = ops.embedded_server(
        ops.ops_app({"database": database_ok, "broker": broker_ok}),
        settings.host,
        settings.metrics_port,
    )
    serving = asyncio.create_task(server.serve())
    pool = await until_connected(
        lambda: asyncpg.create_pool(
            settings.database_url,
            min_size=1,
            max_size=max(2, settings.database_pool_max),
        ),
        stop,
        "database",
    )
    publisher = await until_connected(
        lambda: AmqpEventPublisher.connect(
            settings.rabbitmq_url,
            settings.publish_timeout_seconds,
            reconnect_interval=settings.broker_reconnect_seconds,
            large_task_bytes=settings.large_task_bytes,
        ),
        stop,
        "broker",
    )
    try:
        if pool is None or publisher is None:
            return
        store = PostgresOutboxStore(pool)
        wakeup = asyncio.Event()
        listener = OutboxListener(settings.database_url, wakeup)
        state.update(store=store, publisher=publisher, listener=listener)
        relay = OutboxRelay(
            store,
            publisher,
            wakeup,
            limits=settings.claim_limits,
            fallback_poll=settings.outbox_fallback_poll_seconds,
            delay_after_publish=settings.relay_delay_after_publish_seconds,
            max_queued_tasks=settings.max_queued_tasks,
            large_task_bytes=settings.large_task_bytes,
        )
        listening = asyncio.create_task(listener.run(stop))
        relaying = asyncio.create_task(relay.run(stop))
        log.info("publisher_started", port=settings.metrics_port)
        await stop.wait()
        # Let the batch in hand finish (its rows are deleted only if confirmed); a batch
        # cut short rolls back and is published again by the next relay: at-least-once.
        _, pending = await asyncio.wait(
            [relaying, listening], timeout=settings.shutdown_grace_seconds
        )
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    finally:
        if publisher is not None:
            with contextlib.suppress(Exception):
                await publisher.close()
        if pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pool.close(), 5)
        server.should_exit = True
        await serving
        log.info("publisher_stopped")


def main() -> None:
    lifecycle.run_service("publisher", PublisherSettings(), run)
