"""Consuming `task.process` on a robust AMQP connection with a prefetch above one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from pyservices.common.acks import AckBatcher
from pyservices.common.lifecycle import SHUTDOWN_STEP_SECONDS, bounded_step
from pyservices.common.logging import get_logger
from pyservices.common.topology import PROCESS_QUEUE, declare_process_queue
from pyservices.worker.ports import Delivery, DeliverySource

log = get_logger(__name__)


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


class TaskConsumer(DeliverySource):
    """Hands every delivery of `task.process` to `on_delivery`, unacknowledged.

    Pausing cancels the consumer (basic.cancel): the broker keeps what this worker holds
    unacked and settles it as usual; deliveries already on the wire before the cancel's
    answer still reach the handler. Resuming consumes again with the same handler.
    """

    def __init__(
        self, connection: AbstractRobustConnection, channel: AbstractChannel, queue: AbstractQueue
    ) -> None:
        self._connection = connection
        self._channel = channel
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
        return cls(connection, channel, await declare_process_queue(channel, queue))

    async def start(self, on_delivery: Callable[[Delivery], None]) -> None:
        async def on_message(message: AbstractIncomingMessage) -> None:
            on_delivery(AmqpDelivery(message, self._acks))

        self._on_message = on_message
        # A robust queue consumes again by itself after a reconnect.
        self._tag = await self._queue.consume(on_message)

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
