"""The production overlay's RabbitMQ users, applied to a real broker: each service's own
adapters work under its user, and a user does nothing that is another service's work.

The patterns come from deploy/k8s/operators/rabbitmq-users.yaml (the topology operator's
Permission objects), and which user a service runs as from the rendered prod overlay.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import aio_pika
import aiormq
import pytest
import yaml

from devstack.infra import LocalRabbitMQ
from devstack.stack import SERVICES
from pyservices.common.events import TASK_CREATED, TASK_PROCESSED
from pyservices.common.topology import (
    DEAD_LETTER_QUEUE,
    PROCESS_QUEUE,
    PROCESSED_EXCHANGE,
    WORK_QUEUES,
)
from pyservices.publisher.adapters.rabbitmq import AmqpEventPublisher
from pyservices.publisher.domain import OutboxEvent
from pyservices.websocket.adapters.rabbitmq import ProcessedEventsConsumer
from pyservices.worker.adapters.rabbitmq import TaskConsumer
from pyservices.worker.ports import Delivery

from .manifests import DEPLOY, binconv_containers

USERS_FILE = DEPLOY / "k8s" / "operators" / "rabbitmq-users.yaml"
CREDENTIALS_SUFFIX = "-user-credentials"  # the Secret the topology operator writes
WAIT_SECONDS = 10


def definitions() -> dict[str, dict[str, str]]:
    """User name -> its configure/write/read patterns."""
    documents = [doc for doc in yaml.safe_load_all(USERS_FILE.read_text()) if doc]
    users = {doc["metadata"]["name"] for doc in documents if doc["kind"] == "User"}
    permissions = {
        doc["spec"]["userReference"]["name"]: doc["spec"]["permissions"]
        for doc in documents
        if doc["kind"] == "Permission"
    }
    assert set(permissions) == users, "every User has exactly its Permission"
    return permissions


def broker_user_of_each_service() -> dict[str, str]:
    """Service -> the User whose Secret its RABBITMQ_USERNAME comes from (prod overlay)."""
    found: dict[str, str] = {}
    for container in binconv_containers("prod"):
        for variable in container.spec.get("env", []):
            ref = variable.get("valueFrom", {}).get("secretKeyRef")
            if variable["name"] == "RABBITMQ_USERNAME" and ref:
                assert ref["name"].endswith(CREDENTIALS_SUFFIX), ref
                found[container.command] = ref["name"].removesuffix(CREDENTIALS_SUFFIX)
    return found


def test_each_service_on_the_broker_has_a_user_of_its_own_and_no_other_has_one() -> None:
    users = broker_user_of_each_service()
    assert set(users) == {"publisher", "worker", "websocket"}
    assert set(users) <= set(SERVICES)
    assert len(set(users.values())) == len(users), "no user is shared"
    assert set(users.values()) == set(definitions())


def test_prod_services_do_not_use_the_administrator_default_user() -> None:
    for container in binconv_containers("prod"):
        for variable in container.spec.get("env", []):
            ref = variable.get("valueFrom", {}).get("secretKeyRef", {})
            assert not ref.get("name", "").endswith("-default-user"), container.command


# ---- against a real RabbitMQ

Urls = dict[str, str]  # service -> AMQP URL as its own user


@pytest.fixture
def urls(rabbitmq_server: LocalRabbitMQ) -> Urls:
    vhost = f"users_{uuid.uuid4().hex[:12]}"
    rabbitmq_server.ctl("add_vhost", vhost)
    patterns = definitions()
    found = {}
    for service, user in broker_user_of_each_service().items():
        name, password = f"{user}-{vhost}", uuid.uuid4().hex
        rabbitmq_server.ctl("add_user", name, password)
        allowed = patterns[user]
        rabbitmq_server.ctl(
            "set_permissions",
            "-p",
            vhost,
            name,
            allowed["configure"],
            allowed["write"],
            allowed["read"],
        )
        found[service] = f"amqp://{name}:{password}@127.0.0.1:{rabbitmq_server.port}/{vhost}"
    return found


def created(task_id: str) -> OutboxEvent:
    payload = f'{{"id": "{task_id}", "message": "hi"}}'.encode()
    return OutboxEvent(id=1, topic=TASK_CREATED, task_id=task_id, payload=payload)


def processed(task_id: str, owner: str | None) -> OutboxEvent:
    payload = json.dumps({"id": task_id, "binaryCode": "1", "owner": owner}).encode()
    return OutboxEvent(id=2, topic=TASK_PROCESSED, task_id=task_id, payload=payload)


@pytest.mark.integration
@pytest.mark.parametrize("by_owner", [False, True], ids=["open mode", "access control"])
async def test_every_service_does_its_own_work_under_its_own_user(
    urls: Urls, by_owner: bool
) -> None:
    results: asyncio.Queue[bytes] = asyncio.Queue()
    websocket = ProcessedEventsConsumer(
        urls["websocket"],
        results.put_nowait,
        16,
        queue_max_length=100,
        queue_max_bytes=1 << 20,
        by_owner=by_owner,
    )
    owner = "alice" if by_owner else None
    publisher = await AmqpEventPublisher.connect(urls["publisher"], 5)
    tasks: asyncio.Queue[Delivery] = asyncio.Queue()
    workers = [await TaskConsumer.connect(urls["worker"], 16, queue=q) for q in WORK_QUEUES]
    try:
        await websocket.start()
        if owner is not None:
            await websocket.follow(owner)  # a client of alice's connected
        for worker in workers:
            await worker.start(tasks.put_nowait)
        task_id = str(uuid.uuid4())
        await publisher.publish(created(task_id))
        delivery = await asyncio.wait_for(tasks.get(), WAIT_SECONDS)
        assert task_id.encode() in delivery.body
        await delivery.reject()  # dead-lettered by the broker, whoever the user
        assert await publisher.tasks_waiting() == dict.fromkeys(WORK_QUEUES, 0)
        await publisher.publish(processed(task_id, owner))
        assert task_id.encode() in await asyncio.wait_for(results.get(), WAIT_SECONDS)
        if owner is not None:
            await websocket.unfollow(owner)
    finally:
        await websocket.stop()  # deletes its own queue
        for worker in workers:
            await worker.stop()
            await worker.close()
        await publisher.close()


@pytest.mark.integration
async def test_the_worker_splits_a_batch_delivered_again_under_its_own_user(urls: Urls) -> None:
    publisher = await AmqpEventPublisher.connect(urls["publisher"], 5, tasks_per_message=100)
    first = await TaskConsumer.connect(urls["worker"], 16)
    again = await TaskConsumer.connect(urls["worker"], 16)
    try:
        ids = [str(uuid.uuid4()) for _ in range(2)]
        events = [replace(created(task_id), id=n) for n, task_id in enumerate(ids, 1)]
        assert await publisher.publish_many(events) == [None, None]  # one message
        taken: asyncio.Queue[Delivery] = asyncio.Queue()
        await first.start(taken.put_nowait)
        for _ in ids:
            assert (await asyncio.wait_for(taken.get(), WAIT_SECONDS)).with_others
        await first.stop()
        await first.close()  # unsettled: the batch comes back, redelivered

        singles: asyncio.Queue[Delivery] = asyncio.Queue()
        await again.start(singles.put_nowait)  # splits it through task.process.split
        for _ in ids:
            single = await asyncio.wait_for(singles.get(), WAIT_SECONDS)
            assert not single.with_others
            await single.ack()
        await again.stop()
    finally:
        await first.close()
        await again.close()
        await publisher.close()


Action = Callable[[aio_pika.abc.AbstractChannel, str], Awaitable[object]]


async def publish_to(channel: aio_pika.abc.AbstractChannel, exchange: str, key: str) -> None:
    target = await channel.get_exchange(exchange, ensure=False) if exchange else None
    message = aio_pika.Message(b'{"id": "forged"}')
    await (target or channel.default_exchange).publish(message, routing_key=key)


async def consume(channel: aio_pika.abc.AbstractChannel, queue: str) -> None:
    async def take(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        await message.ack()

    declared = await channel.get_queue(queue, ensure=False)
    await declared.consume(take)


async def declare_queue(channel: aio_pika.abc.AbstractChannel, queue: str) -> None:
    await channel.declare_queue(queue, auto_delete=True)


# (whose user, what it tries, how): each is another service's work. `{ws}` is the queue
# of the running WebSocket process.
REFUSED: dict[str, tuple[str, Action]] = {
    "worker publishes a result to every client": (
        "worker",
        lambda ch, ws: publish_to(ch, PROCESSED_EXCHANGE, ""),
    ),
    "worker forges a task": ("worker", lambda ch, ws: publish_to(ch, "", PROCESS_QUEUE)),
    "worker reads the results": ("worker", lambda ch, ws: consume(ch, ws)),
    "worker declares a queue for the results": (
        "worker",
        lambda ch, ws: declare_queue(ch, f"{PROCESSED_EXCHANGE}.websocket.stolen"),
    ),
    "websocket takes tasks": ("websocket", lambda ch, ws: consume(ch, PROCESS_QUEUE)),
    "websocket reads the dead letters": (
        "websocket",
        lambda ch, ws: consume(ch, DEAD_LETTER_QUEUE),
    ),
    "websocket forges a task": ("websocket", lambda ch, ws: publish_to(ch, "", PROCESS_QUEUE)),
    "websocket forges a result": (
        "websocket",
        lambda ch, ws: publish_to(ch, PROCESSED_EXCHANGE, ""),
    ),
    "publisher reads the results": ("publisher", lambda ch, ws: consume(ch, ws)),
    "publisher reads the dead letters": (
        "publisher",
        lambda ch, ws: consume(ch, DEAD_LETTER_QUEUE),
    ),
}


@pytest.fixture
async def topology(urls: Urls) -> AsyncIterator[str]:
    """Everything declared as the services declare it; yields the WebSocket's queue."""
    publisher = await AmqpEventPublisher.connect(urls["publisher"], 5)
    websocket = ProcessedEventsConsumer(
        urls["websocket"], lambda _: None, 16, queue_max_length=100, queue_max_bytes=1 << 20
    )
    await websocket.start()
    try:
        yield websocket_queue(websocket)
    finally:
        await websocket.stop()
        await publisher.close()


def websocket_queue(consumer: ProcessedEventsConsumer) -> str:
    queue: Any = consumer._queue  # the name is random per process
    return str(queue.name)


@pytest.mark.integration
@pytest.mark.parametrize("attempt", REFUSED)
async def test_a_service_user_is_refused_another_services_work(
    attempt: str, urls: Urls, topology: str
) -> None:
    service, action = REFUSED[attempt]
    connection = await aio_pika.connect(urls[service])
    try:
        channel = await connection.channel(publisher_confirms=True)
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
            await action(channel, topology)
    finally:
        await connection.close()
