"""Consumes the fanout exchange `task.processed` through a queue of this process's own.

The queue is exclusive and auto-deleted, so each WebSocket process gets every event
(the original shared one named queue, and each client saw half the results). aio-pika's
robust connection names it client-side (`amq_<uuid>`) so that it can declare and bind
it again under the same name after a reconnect; the broker deletes it with the
connection either way.
"""

from __future__ import annotations

from collections.abc import Callable

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection

from pyservices.common.logging import get_logger
from pyservices.common.topology import declare_processed_exchange

log = get_logger(__name__)


class ProcessedEventsConsumer:
    def __init__(self, url: str, handle: Callable[[bytes], object], prefetch: int) -> None:
        self._url = url
        self._handle = handle
        self._prefetch = prefetch
        self._connection: AbstractRobustConnection | None = None
        self._queue: AbstractQueue | None = None
        self._consumer_tag: str | None = None

    async def start(self) -> None:
        # Try again every second after a broker loss (aio-pika's default is 5 s).
        connection = await aio_pika.connect_robust(self._url, reconnect_interval=1)
        try:
            await self._subscribe(connection)
        except BaseException:
            await connection.close()
            raise
        self._connection = connection

    async def _subscribe(self, connection: AbstractRobustConnection) -> None:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=self._prefetch)
        exchange = await declare_processed_exchange(channel)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange)
        self._queue = queue
        self._consumer_tag = await queue.consume(self._on_message)
        log.info("consuming_processed_events", queue=queue.name)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        # The handler only fills the clients' buffers, so the ack follows at once.
        try:
            self._handle(message.body)
        except Exception:  # never let one event stop the consumer
            log.exception("processed_event_failed", message_id=message.message_id)
        await message.ack()

    def is_running(self) -> bool:
        connection, queue = self._connection, self._queue
        return (
            connection is not None
            and connection.connected.is_set()
            and queue is not None
            and not queue.channel.is_closed
            and self._consumer_tag is not None
        )

    async def stop(self) -> None:
        if self._queue is not None and self._consumer_tag is not None:
            try:
                await self._queue.cancel(self._consumer_tag)
            except Exception as error:  # the channel may be gone already
                log.info("consumer_cancel_failed", error=repr(error))
            self._consumer_tag = None
        if self._connection is not None:
            await self._connection.close()
