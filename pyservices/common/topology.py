"""The broker topology every service agrees on, declared the same way by each.

`task.process` is a quorum queue: durable, replicated on a cluster, and with a
delivery limit, so a message that keeps crashing its consumer is dead-lettered after
`DELIVERY_LIMIT` tries instead of looping forever. Messages the worker rejects land
in `task.process.dead` through the `task.process.dlx` exchange.
"""

from __future__ import annotations

from typing import Any

import aio_pika

PROCESS_QUEUE = "task.process"
PROCESSED_EXCHANGE = "task.processed"
DEAD_LETTER_EXCHANGE = "task.process.dlx"
DEAD_LETTER_QUEUE = "task.process.dead"
DELIVERY_LIMIT = 5

PROCESS_QUEUE_ARGUMENTS: dict[str, Any] = {
    "x-queue-type": "quorum",
    "x-delivery-limit": DELIVERY_LIMIT,
    "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
    "x-dead-letter-routing-key": DEAD_LETTER_QUEUE,
}


async def declare_process_queue(
    channel: aio_pika.abc.AbstractChannel,
) -> aio_pika.abc.AbstractQueue:
    """The work queue and its dead-letter queue (idempotent: same arguments everywhere)."""
    dlx = await channel.declare_exchange(
        DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True
    )
    dead = await channel.declare_queue(
        DEAD_LETTER_QUEUE, durable=True, arguments={"x-queue-type": "quorum"}
    )
    await dead.bind(dlx, routing_key=DEAD_LETTER_QUEUE)
    return await channel.declare_queue(
        PROCESS_QUEUE, durable=True, arguments=PROCESS_QUEUE_ARGUMENTS
    )


async def declare_processed_exchange(
    channel: aio_pika.abc.AbstractChannel,
) -> aio_pika.abc.AbstractExchange:
    return await channel.declare_exchange(
        PROCESSED_EXCHANGE, aio_pika.ExchangeType.FANOUT, durable=True
    )
