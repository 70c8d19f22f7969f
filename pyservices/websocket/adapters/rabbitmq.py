"""Consumes the fanout exchange `task.processed` through a queue of this process's own,
or with access control on (`by_owner`), the direct exchange `task.processed.owner`
through the same queue bound once per owner this process follows: a process receives
only its connected owners' results (docs/access-control.md).

Each WebSocket process has its own queue, so each gets every event (the original shared
one named queue, and each client saw half the results). The queue is durable rather
than exclusive: an exclusive queue dies with the connection, and after a broker restart
the relay could publish results before this process had declared it again, and those
results would reach no client. A durable queue and its binding survive the restart and
keep collecting. The process deletes its queue when it stops; if it crashes instead,
the broker deletes it after `x-expires` without a consumer, and `x-max-length` and
`x-max-length-bytes` bound what an abandoned (or lagging) queue can hold until then.

The overflow is `drop-head`, named although it is the broker's default: the oldest
results go first, which is what a live feed wants (a client wants the newest; the page
fills the rest through GraphQL). Not `reject-publish`: the relay publishes to the
fanout with confirms, and one full queue bound to it would nack the publish for all of
them, so an abandoned replica's queue would make the relay retry the row again and
again, a duplicate to every healthy replica each time, until the broker expired it.

Changing these arguments makes a redeclare of an existing queue fail with
PRECONDITION_FAILED; that cannot happen here, since each process start declares a new
queue under a fresh random name.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from uuid import uuid4

import aio_pika
from aio_pika.abc import (
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from pyservices.common import tracing
from pyservices.common.acks import AckBatcher
from pyservices.common.lifecycle import SHUTDOWN_STEP_SECONDS, bounded_step
from pyservices.common.logging import get_logger
from pyservices.common.topology import (
    PROCESSED_EXCHANGE,
    declare_processed_by_owner_exchange,
    declare_processed_exchange,
    owner_routing_key,
)
from pyservices.common.tracing import TRACEPARENT
from pyservices.websocket.ports import ProcessedEvents

log = get_logger(__name__)

# A (un)binding is one round trip; bounded, so a client is not held by a broker that
# does not answer.
BINDING_SECONDS = 5.0


class ProcessedEventsConsumer(ProcessedEvents):
    def __init__(
        self,
        url: str,
        handle: Callable[[bytes], object],
        prefetch: int,
        *,
        queue_expires_seconds: float = 60.0,
        queue_max_length: int,
        queue_max_bytes: int,
        reconnect_interval: float = 1.0,
        by_owner: bool = False,
    ) -> None:
        self._url = url
        self._by_owner = by_owner
        self._followed: set[str] = set()
        # Owners whose unbind was skipped (broker away) or failed: the robust queue would
        # restore their bindings on reconnect, so they are unbound once it is back.
        self._unbind_pending: set[str] = set()
        self._sweeps: set[asyncio.Task[None]] = set()
        self._exchange: AbstractExchange | None = None
        self._handle = handle
        self._prefetch = prefetch
        self._queue_name = f"{PROCESSED_EXCHANGE}.websocket.{socket.gethostname()}.{uuid4().hex}"
        self._queue_arguments = {
            "x-queue-type": "classic",
            "x-expires": int(queue_expires_seconds * 1000),
            "x-max-length": queue_max_length,
            "x-max-length-bytes": queue_max_bytes,  # message bodies only
            "x-overflow": "drop-head",
        }
        self._reconnect_interval = reconnect_interval
        self._connection: AbstractRobustConnection | None = None
        self._queue: AbstractQueue | None = None
        self._consumer_tag: str | None = None
        # Each event is acked once, right after it is handled, in the order they arrive:
        # one multiple ack per loop turn settles them all.
        self._acks = AckBatcher(multiple=True)

    async def start(self) -> None:
        connection = await aio_pika.connect_robust(
            self._url, reconnect_interval=self._reconnect_interval
        )
        try:
            await self._subscribe(connection)
        except BaseException:
            await bounded_step(connection.close(), "broker_connection_close")
            raise
        self._connection = connection
        connection.reconnect_callbacks.add(self._on_reconnect)

    def _on_reconnect(self, *_: object) -> None:
        if self._unbind_pending:
            sweep = asyncio.get_running_loop().create_task(self._unbind_pending_owners())
            self._sweeps.add(sweep)
            sweep.add_done_callback(self._sweeps.discard)

    async def _unbind_pending_owners(self) -> None:
        for owner in list(self._unbind_pending - self._followed):
            await self.unfollow(owner)

    async def _subscribe(self, connection: AbstractRobustConnection) -> None:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=self._prefetch)
        if self._by_owner:
            exchange = await declare_processed_by_owner_exchange(channel)
        else:
            exchange = await declare_processed_exchange(channel)
        queue = await channel.declare_queue(
            self._queue_name, durable=True, arguments=self._queue_arguments
        )
        # Set before binding the owners followed so far: one followed meanwhile binds itself.
        self._queue, self._exchange = queue, exchange
        if not self._by_owner:
            await queue.bind(exchange)
        for owner in list(self._followed):
            await queue.bind(exchange, routing_key=owner_routing_key(owner))
        self._consumer_tag = await queue.consume(self._on_message)
        log.info("consuming_processed_events", queue=queue.name)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        # The handler only fills the clients' buffers, so the ack follows at once.
        try:
            if tracing.enabled():  # the handler runs in the trace the message carries
                parent = tracing.context_of(tracing.header_text(message.headers, TRACEPARENT))
                with tracing.attached(parent):
                    self._handle(message.body)
            else:
                self._handle(message.body)
        except Exception:  # never let one event stop the consumer
            log.exception("processed_event_failed", message_id=message.message_id)
        self._acks.ack(message)

    async def follow(self, owner: str) -> None:
        if not self._by_owner:
            return
        self._followed.add(owner)
        self._unbind_pending.discard(owner)
        queue, exchange = self._queue, self._exchange
        if queue is None or exchange is None:
            return  # bound by start
        try:
            # aio-pika's robust queue restores its bindings after a reconnect.
            await asyncio.wait_for(
                queue.bind(exchange, routing_key=owner_routing_key(owner)), BINDING_SECONDS
            )
        except BaseException:
            self._followed.discard(owner)
            raise

    async def unfollow(self, owner: str) -> None:
        if not self._by_owner:
            return
        self._followed.discard(owner)
        queue, exchange = self._queue, self._exchange
        if queue is None or exchange is None or not self.is_running():
            self._unbind_pending.add(owner)
            return
        try:
            await asyncio.wait_for(
                queue.unbind(exchange, routing_key=owner_routing_key(owner)), BINDING_SECONDS
            )
        except Exception:
            # Still bound, the owner's results come and reach no client: tried again
            # after the next reconnect.
            self._unbind_pending.add(owner)
            log.warning("owner_unbind_failed", exc_info=True)
        else:
            self._unbind_pending.discard(owner)

    async def ping(self) -> bool:
        return self.is_running()

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
        queue, tag, running = self._queue, self._consumer_tag, self.is_running()
        self._consumer_tag = None
        if queue is not None and tag is not None:
            # Cancel even when disconnected: aio-pika forgets the consumer at once and
            # would otherwise restore it on a reconnect; the broker's answer may never come.
            seconds = SHUTDOWN_STEP_SECONDS if running else 0.1
            await bounded_step(queue.cancel(tag), "consumer_cancel", seconds)
        await bounded_step(self._acks.flushed(), "acks_flush")
        if queue is not None and running:
            # Not deleted (the broker is gone): the broker expires it after x-expires.
            await bounded_step(queue.delete(if_unused=False, if_empty=False), "queue_delete")
        if self._connection is not None:
            await bounded_step(self._connection.close(), "broker_connection_close")
