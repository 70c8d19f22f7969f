"""A broker memory alarm, on a RabbitMQ of the test's own (the alarm is node-wide): the
relay reports the block at once, stops publishing without losing a row, and resumes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import aio_pika
import httpx
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from devstack.infra import LocalRabbitMQ
from pyservices.common.topology import declare_process_queue
from tests.integration.publisher.relay_support import (
    Relays,
    created,
    insert,
    metric,
    outbox_ids,
    take,
    tasks_in,
    wait_until_empty,
)

pytestmark = pytest.mark.integration

PUBLISH_TIMEOUT = 2.0


async def eventually(check: Callable[[], Awaitable[bool]], within: float, what: str) -> float:
    """Seconds until `check` holds."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < within, what
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def health(base_url: str) -> tuple[int, dict[str, str]]:
    async with httpx.AsyncClient(timeout=3) as http:
        response = await http.get(f"{base_url}/health")
    return response.status_code, response.json()["checks"]


async def test_a_memory_alarm_is_reported_at_once_loses_nothing_and_publishing_resumes(
    database_url: str, own_rabbitmq: LocalRabbitMQ, relays: Relays
) -> None:
    url = await asyncio.to_thread(own_rabbitmq.create_vhost, "alarm")
    connection = await aio_pika.connect(url)
    async with connection:
        work = await declare_process_queue(await connection.channel())
        relay = await relays(
            rabbitmq_url=url,
            publish_timeout_seconds=PUBLISH_TIMEOUT,
            outbox_fallback_poll_seconds=30,
        )
        await insert(database_url, created(1))
        await take(work, 1, within=5)  # publishing works before the alarm
        await wait_until_empty(database_url)

        await asyncio.to_thread(own_rabbitmq.ctl, "set_vm_memory_high_watermark", "0.0000001")
        try:
            rows = created(50)
            await insert(database_url, rows)

            async def reports_blocked() -> bool:
                status, checks = await health(relay.base_url)
                return status == 503 and checks["broker"] == "down: BrokerBlocked"

            # RabbitMQ blocks a connection at its first publish after the alarm, and says
            # so at once: the relay reports it without waiting for a confirm timeout.
            assert await eventually(reports_blocked, 5, "never reported blocked") < PUBLISH_TIMEOUT
            assert await metric(relay.base_url, "binconv_relay_broker_blocked") == 1
            failures = await metric(relay.base_url, "binconv_outbox_publish_failures_total")

            await asyncio.sleep(3 * PUBLISH_TIMEOUT)

            # Nothing was removed, and the relay waited instead of timing out batch after
            # batch: at most the batch in flight when the block came has failed since.
            assert len(await outbox_ids(database_url)) == 50
            failed_since = (
                await metric(relay.base_url, "binconv_outbox_publish_failures_total") - failures
            )
            assert failed_since <= 50
        finally:
            await asyncio.to_thread(own_rabbitmq.ctl, "set_vm_memory_high_watermark", "0.4")

        async def healthy_again() -> bool:
            return (await health(relay.base_url))[0] == 200

        await eventually(healthy_again, 10, "never healthy after the alarm cleared")
        assert await metric(relay.base_url, "binconv_relay_broker_blocked") == 0
        await wait_until_empty(database_url, within=15)
        # At-least-once: the messages the broker had not yet read when the publishes timed
        # out arrive too, so some may come twice; every row must come at least once.
        await every_task_arrives(work, {row[1] for row in rows}, within=10)


async def every_task_arrives(queue: AbstractQueue, task_ids: set[str], within: float) -> None:
    missing = set(task_ids)
    all_came = asyncio.Event()

    async def on_message(message: AbstractIncomingMessage) -> None:
        await message.ack()
        missing.difference_update(task.task_id for task in tasks_in([message]))
        if not missing:
            all_came.set()

    tag = await queue.consume(on_message)
    try:
        await asyncio.wait_for(all_came.wait(), within)
    finally:
        await queue.cancel(tag)
