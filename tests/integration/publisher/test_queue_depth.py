"""The relay reads task.process's depth from the real broker, to hold new tasks back
while the workers are behind."""

from __future__ import annotations

import aio_pika
import pytest

from pyservices.common.topology import LARGE_PROCESS_QUEUE, PROCESS_QUEUE
from pyservices.publisher.adapters import rabbitmq
from pyservices.publisher.adapters.rabbitmq import AmqpEventPublisher

pytestmark = pytest.mark.integration


async def test_reads_the_tasks_waiting_in_the_work_queue(
    rabbitmq_url: str, broker: aio_pika.abc.AbstractChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rabbitmq, "QUEUE_DEPTH_TTL_SECONDS", 0.0)
    publisher = await AmqpEventPublisher.connect(rabbitmq_url)
    try:
        assert await publisher.tasks_waiting() == {PROCESS_QUEUE: 0, LARGE_PROCESS_QUEUE: 0}
        for body in (b"a", b"b", b"c"):
            await broker.default_exchange.publish(aio_pika.Message(body), PROCESS_QUEUE)
        await broker.default_exchange.publish(aio_pika.Message(b"big"), LARGE_PROCESS_QUEUE)

        expected = {PROCESS_QUEUE: 3, LARGE_PROCESS_QUEUE: 1}
        assert await publisher.tasks_waiting() == expected
        assert await publisher.tasks_waiting() == expected  # again: the check changes nothing
    finally:
        await publisher.close()
