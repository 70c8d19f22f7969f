"""Confirmed, persistent publishes of outbox events on a robust AMQP connection."""

from __future__ import annotations

import asyncio

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection

from pyservices.common.events import TASK_CREATED, TASK_PROCESSED
from pyservices.common.lifecycle import bounded_step
from pyservices.common.topology import (
    PROCESS_QUEUE,
    declare_process_queue,
    declare_processed_exchange,
)
from pyservices.publisher.domain import OutboxEvent
from pyservices.publisher.ports import EventPublisher


class AmqpEventPublisher(EventPublisher):
    """`task.created` -> queue `task.process`; `task.processed` -> fanout `task.processed`.

    Created events are mandatory: a message the broker cannot route (the queue was
    deleted) comes back as a failure and its row stays. Processed events are not: a
    fanout with no WebSocket service bound has nobody to tell, so dropping is right.
    """

    def __init__(
        self,
        connection: AbstractRobustConnection,
        channel: AbstractChannel,
        processed: AbstractExchange,
        timeout: float,
    ) -> None:
        super().__init__()
        connection.reconnect_callbacks.add(lambda *_: self.reconnected.set())
        self._connection = connection
        self._channel = channel
        self._processed = processed
        self._timeout = timeout

    @classmethod
    async def connect(
        cls, url: str, publish_timeout: float = 10.0, *, reconnect_interval: float = 1.0
    ) -> AmqpEventPublisher:
        connection = await aio_pika.connect_robust(url, reconnect_interval=reconnect_interval)
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        await declare_process_queue(channel)
        processed = await declare_processed_exchange(channel)
        return cls(connection, channel, processed, publish_timeout)

    async def publish(self, event: OutboxEvent) -> None:
        message = aio_pika.Message(
            body=event.payload,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=str(event.id),
            headers={"task_id": event.task_id},
        )
        # A robust channel waits for a reconnect: bound the wait so the batch fails,
        # its transaction ends, and the relay backs off instead of holding row locks.
        if event.topic == TASK_CREATED:
            publishing = self._channel.default_exchange.publish(
                message, routing_key=PROCESS_QUEUE, mandatory=True
            )
        elif event.topic == TASK_PROCESSED:
            publishing = self._processed.publish(message, routing_key="", mandatory=False)
        else:
            raise ValueError(f"unknown outbox topic {event.topic!r}")
        await asyncio.wait_for(publishing, self._timeout)

    @property
    def connected(self) -> bool:
        return self._connection.connected.is_set() and not self._channel.is_closed

    async def close(self) -> None:
        await bounded_step(self._connection.close(), "broker_connection_close")
