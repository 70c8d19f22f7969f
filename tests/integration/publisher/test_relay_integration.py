"""The relay against real PostgreSQL and RabbitMQ, through its composition root."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

import aio_pika
import asyncpg
import httpx
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from pyservices.common.events import TaskCreated, TaskProcessed
from pyservices.common.topology import declare_process_queue, declare_processed_exchange
from pyservices.devstack.infra import LocalRabbitMQ, free_port
from pyservices.publisher.main import run
from pyservices.publisher.settings import PublisherSettings

pytestmark = pytest.mark.integration

Relay = Callable[..., "asyncio.Task[None]"]


def created(n: int = 1) -> list[tuple[str, str, bytes]]:
    now = datetime.now(UTC)
    rows = []
    for i in range(n):
        task_id = str(uuid.uuid4())
        rows.append(("task.created", task_id, TaskCreated(task_id, f"m{i}", now).to_json()))
    return rows


def processed(task_id: str) -> tuple[str, str, bytes]:
    now = datetime.now(UTC)
    return ("task.processed", task_id, TaskProcessed(task_id, "01000001", now, now).to_json())


async def insert(database_url: str, rows: list[tuple[str, str, bytes]]) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "INSERT INTO outbox (topic, task_id, payload)"
            " SELECT * FROM unnest($1::text[], $2::uuid[], $3::bytea[])",
            [r[0] for r in rows],
            [r[1] for r in rows],
            [r[2] for r in rows],
        )
    finally:
        await connection.close()


async def outbox_ids(database_url: str) -> list[int]:
    connection = await asyncpg.connect(database_url)
    try:
        return [r["id"] for r in await connection.fetch("SELECT id FROM outbox ORDER BY id")]
    finally:
        await connection.close()


@pytest.fixture
async def broker(rabbitmq_url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        yield await connection.channel()


@pytest.fixture
async def relays(database_url: str, rabbitmq_url: str) -> AsyncIterator[Relay]:
    """Starts relays (the real `run`) and waits until each reports healthy."""
    stop = asyncio.Event()
    running: list[asyncio.Task[None]] = []

    async def start(**overrides: object) -> asyncio.Task[None]:
        port = free_port()
        settings = PublisherSettings(
            database_url=database_url,
            rabbitmq_url=rabbitmq_url,
            metrics_port=port,
            **overrides,  # type: ignore[arg-type]
        )
        task = asyncio.create_task(run(settings, stop))
        running.append(task)
        await wait_healthy(f"http://127.0.0.1:{port}/health", task)
        return task

    yield start  # type: ignore[misc]
    stop.set()
    await asyncio.wait_for(asyncio.gather(*running), 20)


async def wait_healthy(url: str, task: asyncio.Task[None], within: float = 20) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=1) as http:
        while time.monotonic() < deadline:
            assert not task.done(), task
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.05)
    raise TimeoutError(url)


async def take(queue: AbstractQueue, count: int, within: float) -> list[AbstractIncomingMessage]:
    got: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()

    async def on_message(message: AbstractIncomingMessage) -> None:
        await message.ack()
        got.put_nowait(message)

    tag = await queue.consume(on_message)
    try:
        return [await asyncio.wait_for(got.get(), within) for _ in range(count)]
    finally:
        await queue.cancel(tag)


async def test_publishes_each_row_where_its_topic_goes_then_removes_it(
    database_url: str, broker: aio_pika.abc.AbstractChannel, relays: Relay
) -> None:
    work = await declare_process_queue(broker)
    results = await broker.declare_queue(exclusive=True)
    await results.bind(await declare_processed_exchange(broker))
    await relays()
    rows = [*created(3), processed(str(uuid.uuid4()))]

    await insert(database_url, rows)

    tasks = await take(work, 3, within=5)
    [result] = await take(results, 1, within=5)
    assert [m.body for m in tasks] == [r[2] for r in rows[:3]]
    assert result.body == rows[3][2]
    first = tasks[0]
    assert first.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert first.content_type == "application/json"
    assert first.message_id is not None and first.message_id.isdigit()
    assert first.headers["task_id"] == rows[0][1]
    await wait_until_empty(database_url)


async def test_a_notification_wakes_the_relay_long_before_the_fallback_poll(
    database_url: str, broker: aio_pika.abc.AbstractChannel, relays: Relay
) -> None:
    work = await declare_process_queue(broker)
    await relays(outbox_fallback_poll_seconds=30)
    await asyncio.sleep(0.2)  # idle: the relay now waits on LISTEN (or the 30 s poll)
    started = time.monotonic()

    await insert(database_url, created(1))

    await take(work, 1, within=5)
    assert time.monotonic() - started < 2


async def test_two_relays_at_once_publish_every_row_exactly_once(
    database_url: str, broker: aio_pika.abc.AbstractChannel, relays: Relay
) -> None:
    work = await declare_process_queue(broker)
    await insert(database_url, created(2000))

    await asyncio.gather(relays(outbox_batch_size=100), relays(outbox_batch_size=100))

    await wait_until_empty(database_url, within=30)
    messages = await take(work, 2000, within=10)
    ids = [m.message_id for m in messages]
    assert len(set(ids)) == len(ids) == 2000
    queued = await broker.declare_queue("task.process", passive=True)
    assert queued.declaration_result.message_count == 0


async def test_a_publish_the_broker_refuses_leaves_its_row(
    database_url: str,
    rabbitmq_url: str,
    rabbitmq_server: LocalRabbitMQ,
    broker: aio_pika.abc.AbstractChannel,
    relays: Relay,
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


async def wait_until_empty(database_url: str, within: float = 5) -> None:
    deadline = time.monotonic() + within
    while await outbox_ids(database_url):
        assert time.monotonic() < deadline, "outbox not drained"
        await asyncio.sleep(0.05)


async def test_keeps_waking_on_notifications_after_its_database_connections_were_cut(
    database_url: str, broker: aio_pika.abc.AbstractChannel, relays: Relay
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
