"""Consuming `task.process` on a robust AMQP connection with a prefetch above one.

A `task.created.batch` message (several tasks, see `common.events`) is handed over as
one delivery per task and acked once every one of them is. If one is refused, the whole
message goes back to the queue, and a batch delivered again is split: each task is
published back to the queue as a message of its own (confirmed) before the batch is
acked. So a task that is refused, or that crashes the worker, ends up alone, dead-lettered
by itself or by the queue's delivery limit, and never takes the others with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from pyservices.common.acks import AckBatcher
from pyservices.common.events import TASK_CREATED_BATCH, MalformedEvent, split_created
from pyservices.common.lifecycle import SHUTDOWN_STEP_SECONDS, bounded_step
from pyservices.common.logging import get_logger
from pyservices.common.topology import PROCESS_QUEUE, declare_process_queue
from pyservices.worker.ports import Delivery, DeliverySource

log = get_logger(__name__)

# The most a split may wait for the broker's confirms before the batch is sent back.
SPLIT_SECONDS = 10.0


class AmqpDelivery(Delivery):
    """Acked through the consumer's `AckBatcher`: the acks of a loop turn go out in one
    write, each its own frame (a delivery never settled stays unacked)."""

    __slots__ = ("_acks", "_message", "_settled", "body")

    def __init__(self, message: AbstractIncomingMessage, acks: AckBatcher) -> None:
        self._message = message
        self._acks = acks
        # Only the first settlement counts. Checked here, not left to aio-pika, which
        # knows nothing of a batched ack: a second settlement of a tag would close the
        # channel (RabbitMQ: unknown delivery tag).
        self._settled = False
        self.body = message.body

    @property
    def headers(self) -> Mapping[str, object]:
        return self._message.headers

    @property
    def redelivered(self) -> bool:
        return bool(self._message.redelivered)

    async def ack(self) -> None:
        if not self._settled:
            self._settled = True
            self._acks.ack(self._message)

    async def reject(self) -> None:
        if self._settled:
            return
        self._settled = True
        try:
            await self._message.reject(requeue=False)
        except Exception as exc:  # the channel is gone: the broker redelivers it
            log.warning("delivery_reject_failed", error=repr(exc))

    async def requeue(self) -> None:
        """Back to the queue, to be delivered again (counted by the delivery limit)."""
        if self._settled:
            return
        self._settled = True
        try:
            await self._message.nack(requeue=True)
        except Exception as exc:  # the channel is gone: the broker redelivers it anyway
            log.warning("delivery_requeue_failed", error=repr(exc))


class _BatchMessage:
    """The one message a batch's tasks came in: acked once every task is acked; sent
    back whole as soon as one is refused (it then comes back split)."""

    __slots__ = ("_left", "_whole")

    def __init__(self, whole: AmqpDelivery, tasks: int) -> None:
        self._whole = whole
        self._left = tasks

    async def task_acked(self) -> None:
        self._left -= 1
        if self._left == 0:
            await self._whole.ack()

    async def task_refused(self) -> None:
        await self._whole.requeue()


class TaskOfBatch(Delivery):
    """One task of a `task.created.batch` message, settled through that message."""

    __slots__ = ("_batch", "_headers", "_settled", "body")

    def __init__(self, batch: _BatchMessage, body: bytes, headers: Mapping[str, object]) -> None:
        self._batch = batch
        self._headers = headers
        self._settled = False
        self.body = body

    @property
    def headers(self) -> Mapping[str, object]:
        return self._headers

    @property
    def with_others(self) -> bool:
        return True

    async def ack(self) -> None:
        if not self._settled:
            self._settled = True
            await self._batch.task_acked()

    async def reject(self) -> None:
        # Not dead-lettered now: the batch goes back, and this task, refused again
        # once it comes back alone, is dead-lettered by itself.
        if not self._settled:
            self._settled = True
            await self._batch.task_refused()


class TaskConsumer(DeliverySource):
    """Hands every delivery of `task.process` to `on_delivery`, unacknowledged.

    Pausing cancels the consumer (basic.cancel): the broker keeps what this worker holds
    unacked and settles it as usual; deliveries already on the wire before the cancel's
    answer still reach the handler. Resuming consumes again with the same handler.
    """

    def __init__(
        self,
        connection: AbstractRobustConnection,
        channel: AbstractChannel,
        queue: AbstractQueue,
        publishing: AbstractChannel,
    ) -> None:
        self._connection = connection
        self._channel = channel
        self._publishing = publishing  # confirmed, for splitting batches
        self._queue = queue
        self._tag: str | None = None
        self._on_message: Callable[[AbstractIncomingMessage], Awaitable[None]] | None = None
        self._stopped = False
        self._acks = AckBatcher()

    @classmethod
    async def connect(
        cls,
        url: str,
        prefetch: int,
        *,
        queue: str = PROCESS_QUEUE,
        reconnect_interval: float = 1.0,
    ) -> TaskConsumer:
        connection = await aio_pika.connect_robust(url, reconnect_interval=reconnect_interval)
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        declared = await declare_process_queue(channel, queue)
        publishing = await connection.channel(publisher_confirms=True, on_return_raises=True)
        return cls(connection, channel, declared, publishing)

    async def start(self, on_delivery: Callable[[Delivery], None]) -> None:
        async def on_message(message: AbstractIncomingMessage) -> None:
            delivery = AmqpDelivery(message, self._acks)
            if message.type != TASK_CREATED_BATCH:
                on_delivery(delivery)
                return
            try:
                bodies = split_created(message.body)
            except MalformedEvent as exc:
                log.warning("task_batch_malformed", error=str(exc))
                await delivery.reject()  # dead-lettered as it came
                return
            if message.redelivered:
                await self._split(message, delivery, bodies)
                return
            batch = _BatchMessage(delivery, len(bodies))
            for body in bodies:
                on_delivery(TaskOfBatch(batch, body, message.headers))

        self._on_message = on_message
        # A robust queue consumes again by itself after a reconnect.
        self._tag = await self._queue.consume(on_message)

    async def _split(
        self, message: AbstractIncomingMessage, whole: AmqpDelivery, bodies: list[bytes]
    ) -> None:
        """Publish each task of a batch delivered again to the queue on its own, as the
        relay would have, then ack the batch; if the broker does not confirm them all,
        send the batch back instead (the tasks that went are then there twice)."""
        message_ids = _strings(message.headers.get("message_ids"), len(bodies))
        task_ids = _strings(message.headers.get("task_ids"), len(bodies))
        exchange = self._publishing.default_exchange
        singles = [
            aio_pika.Message(
                body,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=message_id,
                headers={"task_id": task_id or ""},
            )
            for body, message_id, task_id in zip(bodies, message_ids, task_ids, strict=True)
        ]
        publishes = (
            exchange.publish(single, routing_key=self._queue.name, mandatory=True)
            for single in singles
        )
        try:
            await asyncio.wait_for(asyncio.gather(*publishes), SPLIT_SECONDS)
        except Exception as exc:
            log.warning("task_batch_split_failed", tasks=len(bodies), error=repr(exc))
            await whole.requeue()
            return
        log.info("task_batch_split", tasks=len(bodies), message_id=message.message_id)
        await whole.ack()

    @property
    def consuming(self) -> bool:
        return self._tag is not None

    async def pause(self) -> None:
        # The tag goes first: aio-pika forgets the consumer before the broker answers,
        # so after a failed cancel there is none to restore and `resume` makes a new one.
        if self._tag is not None:
            tag, self._tag = self._tag, None
            await self._queue.cancel(tag)

    async def resume(self) -> None:
        if self._tag is None and self._on_message is not None and not self._stopped:
            tag = await self._queue.consume(self._on_message)
            if self._stopped:  # stopped while the consume was on its way
                await self._queue.cancel(tag)
                return
            self._tag = tag

    async def stop(self) -> None:
        """Stop taking deliveries; those already taken can still be settled."""
        self._stopped = True
        if self._tag is not None:
            tag, self._tag = self._tag, None
            # Cancel even when disconnected: aio-pika forgets the consumer at once and
            # would otherwise restore it on a reconnect; the broker's answer may never come.
            seconds = SHUTDOWN_STEP_SECONDS if self.connected else 0.1
            await bounded_step(self._queue.cancel(tag), "consumer_cancel", seconds)

    @property
    def connected(self) -> bool:
        return self._connection.connected.is_set() and not self._channel.is_closed

    async def ping(self) -> bool:
        return self.connected

    async def close(self) -> None:
        await bounded_step(self._acks.flushed(), "acks_flush")
        await bounded_step(self._connection.close(), "broker_connection_close")


def _strings(value: object, count: int) -> Sequence[str | None]:
    """A header's list of strings, or `count` Nones if it is not one of that length."""
    if isinstance(value, list) and len(value) == count:
        return [item.decode() if isinstance(item, bytes) else str(item) for item in value]
    return [None] * count
