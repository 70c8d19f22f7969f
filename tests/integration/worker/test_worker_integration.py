"""The worker against real RabbitMQ and an in-process gRPC task service, through `run`."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import aio_pika
import grpc
import httpx
import pytest

from devstack.infra import LocalRabbitMQ, free_port
from pyservices.common.events import TaskCreated
from pyservices.common.topology import (
    DEAD_LETTER_QUEUE,
    LARGE_PROCESS_QUEUE,
    PROCESS_QUEUE,
    WORK_QUEUES,
    declare_process_queue,
)
from pyservices.worker.main import run
from pyservices.worker.settings import WorkerSettings
from tests.support.fake_task_server import FakeTaskServicer, serve
from tests.support.health import until_healthy

pytestmark = pytest.mark.integration

MESSAGES = ["hello", "A", "é", "naïve café", "emoji 🚀✨", "  spaced  ", "日本語"]


def binary(message: str) -> str:
    return "".join(f"{byte:08b}" for byte in message.encode())


Serve = Callable[[FakeTaskServicer], Awaitable[str]]


@pytest.fixture
async def task_service() -> AsyncIterator[Serve]:
    servers: list[grpc.aio.Server] = []

    async def serve_on_a_free_port(servicer: FakeTaskServicer) -> str:
        server, port = await serve(servicer)
        servers.append(server)
        return f"127.0.0.1:{port}"

    yield serve_on_a_free_port
    for server in servers:
        await server.stop(None)


@pytest.fixture
async def broker(rabbitmq_url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        await declare_process_queue(channel)
        yield channel


async def start_worker(
    rabbitmq_url: str, address: str, stop: asyncio.Event, port: int | None = None
) -> asyncio.Task[None]:
    port = port or free_port()
    settings = WorkerSettings(
        rabbitmq_url=rabbitmq_url,
        task_service_addr=address,
        metrics_port=port,
        retry_backoff_max_seconds=0.5,
    )
    worker = asyncio.create_task(run(settings, stop))
    await until_healthy(f"http://127.0.0.1:{port}/health", service=worker)
    return worker


async def publish(
    channel: aio_pika.abc.AbstractChannel, *bodies: bytes, queue: str = PROCESS_QUEUE
) -> None:
    for body in bodies:
        await channel.default_exchange.publish(
            aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=queue,
        )


def tasks(count: int) -> dict[str, str]:
    return {str(uuid.uuid4()): MESSAGES[i % len(MESSAGES)] for i in range(count)}


def body(task_id: str, message: str) -> bytes:
    return TaskCreated(task_id, message, datetime.now(UTC)).to_json()


async def ready_messages(channel: aio_pika.abc.AbstractChannel, queue: str) -> int:
    declared = await channel.declare_queue(queue, passive=True)
    count = declared.declaration_result.message_count
    assert count is not None
    return count


async def test_converts_tasks_and_dead_letters_unknown_ids_and_garbage(
    rabbitmq_url: str, broker: aio_pika.abc.AbstractChannel, task_service: Serve
) -> None:
    wanted = tasks(200)
    service = FakeTaskServicer(set(wanted))
    stop = asyncio.Event()
    worker = await start_worker(rabbitmq_url, await task_service(service), stop)

    await publish(broker, *(body(i, m) for i, m in wanted.items()))
    await publish(broker, body(str(uuid.uuid4()), "nobody's task"), b"\x00 not json")

    await asyncio.wait_for(service.all_recorded.wait(), 10)
    assert service.recorded == {task_id: binary(m) for task_id, m in wanted.items()}
    deadline = time.monotonic() + 10
    while await ready_messages(broker, DEAD_LETTER_QUEUE) < 2:
        assert time.monotonic() < deadline, "nothing dead-lettered"
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(worker, 15)
    assert await ready_messages(broker, PROCESS_QUEUE) == 0  # unacked ones would be back
    assert service.result_streams == len(WORK_QUEUES)  # one long-lived stream per lane


async def test_tasks_of_the_large_lane_are_converted_beside_the_short_ones(
    rabbitmq_url: str, broker: aio_pika.abc.AbstractChannel, task_service: Serve
) -> None:
    large = {str(uuid.uuid4()): "é" * 32_000 for _ in range(3)}
    short = tasks(5)
    service = FakeTaskServicer(set(large) | set(short))
    stop = asyncio.Event()
    worker = await start_worker(rabbitmq_url, await task_service(service), stop)

    await publish(broker, *(body(i, m) for i, m in large.items()), queue=LARGE_PROCESS_QUEUE)
    await publish(broker, *(body(i, m) for i, m in short.items()))

    await asyncio.wait_for(service.all_recorded.wait(), 10)
    stop.set()
    await asyncio.wait_for(worker, 15)
    assert service.recorded == {i: binary(m) for i, m in (large | short).items()}
    assert await ready_messages(broker, LARGE_PROCESS_QUEUE) == 0


async def test_resends_unanswered_results_after_the_stream_breaks(
    rabbitmq_url: str, broker: aio_pika.abc.AbstractChannel, task_service: Serve
) -> None:
    wanted = tasks(100)
    service = FakeTaskServicer(set(wanted), break_first_after=10)
    stop = asyncio.Event()
    worker = await start_worker(rabbitmq_url, await task_service(service), stop)

    await publish(broker, *(body(i, m) for i, m in wanted.items()))

    await asyncio.wait_for(service.all_recorded.wait(), 10)
    stop.set()
    await asyncio.wait_for(worker, 15)
    assert service.result_streams >= 2
    assert service.recorded == {task_id: binary(m) for task_id, m in wanted.items()}
    assert await ready_messages(broker, PROCESS_QUEUE) == 0
    assert await ready_messages(broker, DEAD_LETTER_QUEUE) == 0


async def test_delivers_what_arrived_while_the_task_service_was_down(
    rabbitmq_url: str, broker: aio_pika.abc.AbstractChannel
) -> None:
    wanted = tasks(50)
    service = FakeTaskServicer(set(wanted))
    address = f"127.0.0.1:{free_port()}"
    stop = asyncio.Event()
    server = (await serve(service, address))[0]
    worker = await start_worker(rabbitmq_url, address, stop)
    try:
        await server.stop(None)  # the task service goes away
        await publish(broker, *(body(i, m) for i, m in wanted.items()))
        await asyncio.sleep(1.0)
        assert not service.recorded

        server = (await serve(service, address))[0]  # and comes back

        await asyncio.wait_for(service.all_recorded.wait(), 10)
    finally:
        stop.set()
        await asyncio.wait_for(worker, 15)
        await server.stop(None)
    assert await ready_messages(broker, PROCESS_QUEUE) == 0


async def until_unhealthy(url: str) -> None:
    async with httpx.AsyncClient(timeout=1) as http, asyncio.timeout(20):
        while (await http.get(url)).status_code == 200:  # noqa: ASYNC110 (another process)
            await asyncio.sleep(0.05)


async def test_stops_within_its_grace_period_while_the_broker_is_gone(
    rabbitmq_url: str, rabbitmq_server: LocalRabbitMQ, task_service: Serve
) -> None:
    stop, port = asyncio.Event(), free_port()
    address = await task_service(FakeTaskServicer(set()))
    worker = await start_worker(rabbitmq_url, address, stop, port)
    # Its virtual host deleted, the worker's connection closes and cannot come back.
    await asyncio.to_thread(rabbitmq_server.ctl, "delete_vhost", rabbitmq_url.rsplit("/", 1)[1])
    await until_unhealthy(f"http://127.0.0.1:{port}/health")

    stop.set()

    await asyncio.wait_for(worker, 15)
