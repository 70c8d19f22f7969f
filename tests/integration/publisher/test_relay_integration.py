"""The relay against real PostgreSQL and RabbitMQ, through its composition root."""

from __future__ import annotations

import asyncio
import time
import uuid
from urllib.parse import urlsplit

import aio_pika
import asyncpg
import pytest

from devstack.infra import LocalRabbitMQ
from pyservices.common.events import TASK_CREATED_BATCH
from pyservices.common.topology import (
    LARGE_PROCESS_QUEUE,
    declare_process_queue,
    declare_processed_exchange,
)
from tests.integration.publisher.relay_support import (
    Relays,
    created,
    insert,
    outbox_ids,
    processed,
    take,
    take_tasks,
    tasks_in,
    wait_until_empty,
)

pytestmark = pytest.mark.integration


async def test_publishes_each_row_where_its_topic_goes_then_removes_it(
    database_url: str, broker: aio_pika.abc.AbstractChannel, relays: Relays
) -> None:
    work = await declare_process_queue(broker)
    results = await broker.declare_queue(exclusive=True)
    await results.bind(await declare_processed_exchange(broker))
    await relays(tasks_per_message=1)  # one task per message, the form older workers read
    rows = [*created(3), processed(str(uuid.uuid4()))]

    await insert(database_url, rows)

    tasks = await take(work, 3, within=5)
    [result] = await take(results, 1, within=5)
    assert [m.body for m in tasks] == [r[2] for r in rows[:3]]
    assert result.body == rows[3][2]
    first = tasks[0]
    assert first.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert first.content_type == "application/json"
    assert first.type is None
    assert first.message_id is not None and first.message_id.isdigit()
    assert first.headers["task_id"] == rows[0][1]
    await wait_until_empty(database_url)


async def test_short_tasks_of_a_claim_go_together_in_one_message(
    database_url: str, broker: aio_pika.abc.AbstractChannel, relays: Relays
) -> None:
    work = await declare_process_queue(broker)
    await relays()  # as deployed: up to 100 tasks to a message
    rows = created(3)

    await insert(database_url, rows)

    [message] = await take(work, 1, within=5)
    assert message.type == TASK_CREATED_BATCH
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.body == b"[" + b",".join(r[2] for r in rows) + b"]"
    tasks = tasks_in([message])
    assert [(t.task_id, t.body) for t in tasks] == [(r[1], r[2]) for r in rows]
    assert all(t.message_id is not None and t.message_id.isdigit() for t in tasks)
    assert message.message_id == tasks[0].message_id
    await wait_until_empty(database_url)


async def test_a_large_task_goes_to_the_large_work_queue(
    database_url: str, broker: aio_pika.abc.AbstractChannel, relays: Relays
) -> None:
    work = await declare_process_queue(broker)
    large_work = await declare_process_queue(broker, LARGE_PROCESS_QUEUE)
    await relays(large_task_bytes=100)
    small, large = (
        (uuid.uuid4(), b'{"m": "short"}'),
        (uuid.uuid4(), b'{"m": "' + b"x" * 200 + b'"}'),
    )

    await insert(database_url, [("task.created", str(i), p) for i, p in (small, large)])

    [short_task] = await take(work, 1, within=5)
    [large_task] = await take(large_work, 1, within=5)
    assert (short_task.body, large_task.body) == (small[1], large[1])


async def test_a_notification_wakes_the_relay_long_before_the_fallback_poll(
    database_url: str, broker: aio_pika.abc.AbstractChannel, relays: Relays
) -> None:
    work = await declare_process_queue(broker)
    await relays(outbox_fallback_poll_seconds=30)
    await asyncio.sleep(0.2)  # idle: the relay now waits on LISTEN (or the 30 s poll)
    started = time.monotonic()

    await insert(database_url, created(1))

    await take(work, 1, within=5)
    assert time.monotonic() - started < 2


async def test_two_relays_at_once_publish_every_row_exactly_once(
    database_url: str, broker: aio_pika.abc.AbstractChannel, relays: Relays
) -> None:
    work = await declare_process_queue(broker)
    await insert(database_url, created(2000))

    await asyncio.gather(relays(outbox_batch_size=100), relays(outbox_batch_size=100))

    await wait_until_empty(database_url, within=30)
    tasks = await take_tasks(work, 2000, within=10)
    ids = [t.message_id for t in tasks]
    assert len(set(ids)) == len(ids) == 2000
    queued = await broker.declare_queue("task.process", passive=True)
    assert queued.declaration_result.message_count == 0


async def test_two_relays_with_byte_limited_batches_publish_every_row_exactly_once(
    database_url: str, broker: aio_pika.abc.AbstractChannel, relays: Relays
) -> None:
    results = await broker.declare_queue(exclusive=True)
    await results.bind(await declare_processed_exchange(broker))
    # Processed events of about 600 KiB (the code of a 64 KiB message) and small ones.
    big = [processed(str(uuid.uuid4()), "0" * 600_000) for _ in range(30)]
    small = [processed(str(uuid.uuid4())) for _ in range(30)]
    await insert(database_url, [row for pair in zip(big, small, strict=True) for row in pair])

    budget = {"outbox_batch_size": 100, "outbox_batch_bytes": 1024 * 1024}
    await asyncio.gather(relays(**budget), relays(**budget))

    await wait_until_empty(database_url, within=30)
    messages = await take(results, 60, within=10)
    ids = [m.message_id for m in messages]
    assert len(set(ids)) == len(ids) == 60
    assert {m.body for m in messages} == {row[2] for row in big + small}
    queued = await broker.declare_queue(results.name, passive=True)
    assert queued.declaration_result.message_count == 0


async def test_a_publish_the_broker_refuses_leaves_its_row(
    database_url: str,
    rabbitmq_url: str,
    rabbitmq_server: LocalRabbitMQ,
    broker: aio_pika.abc.AbstractChannel,
    relays: Relays,
) -> None:
    vhost = urlsplit(rabbitmq_url).path.lstrip("/")
    work = await declare_process_queue(broker)
    # A full queue that rejects publishes: the broker answers with basic.nack.
    policy = '{"max-length": 0, "overflow": "reject-publish"}'
    rabbitmq_server.ctl("set_policy", "-p", vhost, "full", "^task\\.process$", policy)
    await until_the_broker_refuses(broker)
    await relays(outbox_fallback_poll_seconds=30)

    await insert(database_url, created(1))

    await asyncio.sleep(1.0)  # several refused attempts (backoff from 50 ms)
    assert len(await outbox_ids(database_url)) == 1
    rabbitmq_server.ctl("clear_policy", "-p", vhost, "full")
    await work.purge()  # the filler that filled it
    # RabbitMQ 3.10 keeps refusing on a channel a quorum queue once refused; a relay
    # with a fresh channel shows the row left behind is still there to publish.
    await relays(outbox_fallback_poll_seconds=30)
    await wait_until_empty(database_url, within=15)


async def until_the_broker_refuses(broker: aio_pika.abc.AbstractChannel) -> None:
    """Publish fillers until a nack (a quorum queue refuses only once over its limit)."""
    for _ in range(50):
        try:
            await broker.default_exchange.publish(  # the fixture's channel has confirms
                aio_pika.Message(b"filler"), routing_key="task.process"
            )
        except aio_pika.exceptions.DeliveryError:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the policy never took effect")


async def test_keeps_waking_on_notifications_after_its_database_connections_were_cut(
    database_url: str, broker: aio_pika.abc.AbstractChannel, relays: Relays
) -> None:
    work = await declare_process_queue(broker)
    await relays(outbox_fallback_poll_seconds=30)
    admin = await asyncpg.connect(database_url)
    try:
        cut = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert cut >= 2  # the pool's connection and the listening one
        await asyncio.sleep(0.5)  # the listener notices and listens again
        started = time.monotonic()

        await insert(database_url, created(1))

        await take(work, 1, within=5)
        assert time.monotonic() - started < 2
    finally:
        await admin.close()
