"""Results published by the relay reach the fanout whole and the by-owner exchange by
owner, on a real RabbitMQ vhost."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from itertools import count

import aio_pika
import orjson
import pytest

from pyservices.common.events import TASK_PROCESSED
from pyservices.common.topology import (
    declare_processed_by_owner_exchange,
    declare_processed_exchange,
    owner_routing_key,
)
from pyservices.publisher.adapters.rabbitmq import AmqpEventPublisher
from pyservices.publisher.domain import OutboxEvent
from tests.integration.publisher.relay_support import take

pytestmark = pytest.mark.integration

row_ids = count(1)


def result(owner: str | None) -> OutboxEvent:
    now = datetime.now(UTC).isoformat()
    task_id = str(uuid.uuid4())
    body = {"id": task_id, "binaryCode": "01000001", "createdAt": now, "processedAt": now}
    if owner is not None:
        body["owner"] = owner
    return OutboxEvent(next(row_ids), TASK_PROCESSED, task_id, orjson.dumps(body))


@pytest.fixture
async def publisher(rabbitmq_url: str) -> AsyncIterator[AmqpEventPublisher]:
    made = await AmqpEventPublisher.connect(rabbitmq_url, publish_timeout=5.0)
    yield made
    await made.close()


async def owners_queue(
    broker: aio_pika.abc.AbstractChannel, *owners: str
) -> aio_pika.abc.AbstractQueue:
    queue = await broker.declare_queue(exclusive=True)
    exchange = await declare_processed_by_owner_exchange(broker)
    for owner in owners:
        await queue.bind(exchange, routing_key=owner_routing_key(owner))
    return queue


async def test_a_queue_bound_for_an_owner_gets_that_owners_results_only(
    publisher: AmqpEventPublisher, broker: aio_pika.abc.AbstractChannel
) -> None:
    alice, bob = await owners_queue(broker, "alice"), await owners_queue(broker, "bob")
    everyone = await broker.declare_queue(exclusive=True)
    await everyone.bind(await declare_processed_exchange(broker))
    events = [result("alice"), result("bob"), result(None), result("alice")]

    for event in events:
        await publisher.publish(event)

    assert [m.body for m in await take(alice, 2, within=5)] == [
        events[0].payload,
        events[3].payload,
    ]
    assert [m.body for m in await take(bob, 1, within=5)] == [events[1].payload]
    # The fanout, the original's contract, still gets every result.
    assert [m.body for m in await take(everyone, 4, within=5)] == [e.payload for e in events]
    assert await alice.get(fail=False) is None and await bob.get(fail=False) is None


async def test_an_owner_whose_name_looks_like_a_pattern_is_routed_only_to_itself(
    publisher: AmqpEventPublisher, broker: aio_pika.abc.AbstractChannel
) -> None:
    hashes = await owners_queue(broker, "#")
    plain = await owners_queue(broker, "carol")
    long_name = "x" * 1000  # longer than a routing key may be
    long_owner = await owners_queue(broker, long_name)

    await publisher.publish(carols := result("carol"))
    await publisher.publish(longs := result(long_name))

    assert [m.body for m in await take(plain, 1, within=5)] == [carols.payload]
    assert [m.body for m in await take(long_owner, 1, within=5)] == [longs.payload]
    assert await hashes.get(fail=False) is None


def test_the_routing_key_is_a_digest_and_empty_without_an_owner() -> None:
    assert owner_routing_key(None) == owner_routing_key("") == ""
    assert owner_routing_key("alice") != owner_routing_key("bob")
    assert len(owner_routing_key("x" * 1000)) == 64
    assert "alice" not in owner_routing_key("alice")
