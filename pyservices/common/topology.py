"""The broker topology every service agrees on, declared the same way by each.

`task.process` is a quorum queue: durable, replicated on a cluster, and with a
delivery limit, so a message that keeps crashing its consumer is dead-lettered after
`DELIVERY_LIMIT` tries instead of looping forever. Messages the worker rejects land
in `task.process.dead` through the `task.process.dlx` exchange.

Tasks whose event is over `LARGE_TASK_BYTES` go to `task.process.large` instead, a
queue of the same kind that workers consume beside `task.process`: a queue is first in,
first out, and a request of 1,000 messages of 64 KiB takes the workers tens of seconds,
so in one queue every short task sent meanwhile waited behind it (measured: p50 18.6 s
for short tasks while three such requests were processed).

Results go to the fanout `task.processed` (the original's contract), routed with a key
naming their owner (`owner_routing_key`), which a fanout ignores. The direct exchange
`task.processed.owner` is bound to that fanout, so it sees every result and routes each
by that key: a WebSocket process with access control on binds its queue there, once per
owner connected to it, and receives only those owners' results (docs/access-control.md,
"Routing results by owner"). The relay declares the exchange-to-exchange binding; a
consumer declares only the exchange it reads.
"""

from __future__ import annotations

import hashlib
from typing import Any

import aio_pika

PROCESS_QUEUE = "task.process"
LARGE_PROCESS_QUEUE = "task.process.large"
WORK_QUEUES = (PROCESS_QUEUE, LARGE_PROCESS_QUEUE)
# A task.created event (its JSON) over this many bytes is a large task.
LARGE_TASK_BYTES = 16 * 1024
# Short tasks travel several to a message (`events.TASK_CREATED_BATCH`), up to this many
# body bytes: a worker takes its whole prefetch of them before its byte budget can pause
# anything, and 256 such messages are 16 MiB.
TASKS_MESSAGE_BYTES = 64 * 1024
PROCESSED_EXCHANGE = "task.processed"
PROCESSED_BY_OWNER_EXCHANGE = "task.processed.owner"
# The worker's way back into the work queues, to split a message of several tasks
# delivered again into one message per task: a direct exchange bound to each work queue
# with the queue's name as key. Its own exchange, so that the worker's broker user may
# publish tasks there and nowhere else (docs/deploy.md, "One RabbitMQ user per service").
SPLIT_EXCHANGE = "task.process.split"
DEAD_LETTER_EXCHANGE = "task.process.dlx"
DEAD_LETTER_QUEUE = "task.process.dead"
DELIVERY_LIMIT = 5

PROCESS_QUEUE_ARGUMENTS: dict[str, Any] = {
    "x-queue-type": "quorum",
    "x-delivery-limit": DELIVERY_LIMIT,
    "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
    "x-dead-letter-routing-key": DEAD_LETTER_QUEUE,
}


def work_queue_for(event_bytes: int, large_task_bytes: int = LARGE_TASK_BYTES) -> str:
    """The queue a task.created event of this size goes to."""
    return LARGE_PROCESS_QUEUE if event_bytes > large_task_bytes else PROCESS_QUEUE


async def declare_process_queue(
    channel: aio_pika.abc.AbstractChannel, name: str = PROCESS_QUEUE
) -> aio_pika.abc.AbstractQueue:
    """A work queue (`task.process` or `task.process.large`) and the dead-letter queue
    (idempotent: same arguments everywhere)."""
    dlx = await channel.declare_exchange(
        DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True
    )
    dead = await channel.declare_queue(
        DEAD_LETTER_QUEUE, durable=True, arguments={"x-queue-type": "quorum"}
    )
    await dead.bind(dlx, routing_key=DEAD_LETTER_QUEUE)
    return await channel.declare_queue(name, durable=True, arguments=PROCESS_QUEUE_ARGUMENTS)


async def declare_split_route(
    channel: aio_pika.abc.AbstractChannel, queue: aio_pika.abc.AbstractQueue
) -> aio_pika.abc.AbstractExchange:
    """`SPLIT_EXCHANGE`, bound to the work queue `queue` (as declared on this channel, so
    a robust channel binds it again after a reconnect) by its name (the worker's
    declaration, for the lane it consumes)."""
    split = await channel.declare_exchange(
        SPLIT_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True
    )
    await queue.bind(split, routing_key=queue.name)
    return split


async def declare_processed_exchange(
    channel: aio_pika.abc.AbstractChannel,
) -> aio_pika.abc.AbstractExchange:
    return await channel.declare_exchange(
        PROCESSED_EXCHANGE, aio_pika.ExchangeType.FANOUT, durable=True
    )


async def declare_processed_by_owner_exchange(
    channel: aio_pika.abc.AbstractChannel,
) -> aio_pika.abc.AbstractExchange:
    return await channel.declare_exchange(
        PROCESSED_BY_OWNER_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True
    )


async def declare_processed_routing(
    channel: aio_pika.abc.AbstractChannel,
) -> aio_pika.abc.AbstractExchange:
    """Both result exchanges and the binding from the fanout to the direct one (the
    relay's declaration); returns the fanout, where results are published."""
    fanout = await declare_processed_exchange(channel)
    by_owner = await declare_processed_by_owner_exchange(channel)
    await by_owner.bind(fanout)
    return fanout


def owner_routing_key(owner: str | None) -> str:
    """The routing key of a result owned by `owner`; "" for a task of open mode.

    A digest, not the name: a `sub` can be longer than a routing key's 255 bytes, and
    the broker's bindings (visible to its operators) need not show who is connected.
    """
    if not owner:
        return ""
    return hashlib.sha256(owner.encode()).hexdigest()
