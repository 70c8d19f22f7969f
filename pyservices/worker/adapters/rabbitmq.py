"""Consuming `task.process` on a robust AMQP connection with a prefetch above one.

A `task.created.batch` message (several tasks, see `common.events`) is handed over as
one delivery per task and acked once every one of them is. If one is refused, the whole
message goes back to the queue, and a batch delivered again is split: each task is
published back to the work queue as a message of its own, through `task.process.split`
(confirmed), before the batch is acked. So a task that is refused, or that crashes the
worker, ends up alone, dead-lettered by itself or by the queue's delivery limit, and
does not take the others with it.

Splitting publishes on a connection of its own, opened when first needed: a broker in a
memory or disk alarm blocks a connection that publishes, and stops reading from it, and
the consuming connection must go on acking. A publish of a split that fails is tried
again after a pause, for as long as the batch is held, rather than the batch sent back
(every delivery counts against the queue's delivery limit); one that only waits for its
confirm is left to wait, never sent twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from pyservices.common.acks import AckBatcher
from pyservices.common.backoff import backoff_delay
from pyservices.common.events import TASK_CREATED_BATCH, MalformedEvent, split_created
from pyservices.common.lifecycle import SHUTDOWN_STEP_SECONDS, bounded_step
from pyservices.common.logging import get_logger
from pyservices.common.topology import (
    PROCESS_QUEUE,
    SPLIT_EXCHANGE,
    declare_process_queue,
    declare_split_route,
)
from pyservices.worker import metrics
from pyservices.worker.ports import Delivery, DeliverySource

log = get_logger(__name__)

# How often a split still waiting for confirms says so; a publish that failed goes
# again after a pause of at most SPLIT_RETRY_MAX_SECONDS, up to SPLIT_TRIES times
# (a return: no route to the queue); then the batch goes back to the queue instead, so
# that a lasting fault ends at the delivery limit rather than holding it for good.
SPLIT_SECONDS = 10.0
SPLIT_TRIES = 10
SPLIT_RETRY_MAX_SECONDS = 5.0


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
        await self._refuse(requeue=False)

    async def requeue(self) -> None:
        """Back to the queue, to be delivered again (counted by the delivery limit)."""
        await self._refuse(requeue=True)

    async def _refuse(self, *, requeue: bool) -> None:
        if self._settled:
            return
        self._settled = True
        try:
            await self._message.reject(requeue=requeue)
        except Exception as exc:  # the channel is gone: the broker redelivers it
            log.warning("delivery_refuse_failed", requeue=requeue, error=repr(exc))


class Requeueable(Protocol):
    """A delivery that can also be sent back to its queue (the whole of a batch)."""

    async def ack(self) -> None: ...

    async def requeue(self) -> None: ...


class BatchMessage:
    """The one message a batch's tasks came in: acked once every task is acked; sent
    back whole as soon as one is refused (it then comes back split)."""

    __slots__ = ("_left", "_whole")

    def __init__(self, whole: Requeueable, tasks: int) -> None:
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

    def __init__(self, batch: BatchMessage, body: bytes, headers: Mapping[str, object]) -> None:
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
        url: str,
        reconnect_interval: float = 1.0,
    ) -> None:
        self._connection = connection
        self._channel = channel
        self._queue = queue
        self._url = url
        self._reconnect_interval = reconnect_interval
        # For splitting batches, on a connection of its own (opened when first needed).
        self._split_to: AbstractExchange | None = None
        self._publishing_connection: AbstractRobustConnection | None = None
        self._publishing_opened = asyncio.Lock()
        self._closing = False
        self._splits: set[asyncio.Task[object]] = set()
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
        try:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=prefetch)
            declared = await declare_process_queue(channel, queue)
            await declare_split_route(channel, declared)
        except BaseException:  # e.g. refused by the broker: tried again, not leaked
            await connection.close()
            raise
        return cls(connection, channel, declared, url, reconnect_interval)

    async def start(self, on_delivery: Callable[[Delivery], None]) -> None:
        async def on_message(message: AbstractIncomingMessage) -> None:
            delivery = AmqpDelivery(message, self._acks)
            if message.type != TASK_CREATED_BATCH:
                on_delivery(delivery)
                return
            try:
                bodies = split_created(message.body)
            except MalformedEvent as exc:
                await delivery.reject()  # dead-lettered as it came
                metrics.DEAD_LETTERED.labels(reason="malformed").inc()
                log.warning("task_dead_lettered", reason="malformed", detail=str(exc))
                return
            if message.redelivered:
                await self._split(message, delivery, bodies)
                return
            batch = BatchMessage(delivery, len(bodies))
            for body in bodies:
                on_delivery(TaskOfBatch(batch, body, message.headers))

        self._on_message = on_message
        # A robust queue consumes again by itself after a reconnect.
        self._tag = await self._queue.consume(on_message)

    async def _split(
        self, message: AbstractIncomingMessage, whole: AmqpDelivery, bodies: list[bytes]
    ) -> None:
        """Publish each task of a batch delivered again to the work queue on its own, as
        the relay would have (through `SPLIT_EXCHANGE`), then ack the batch.

        A publish that fails (nack, return, channel lost) goes again after a pause, up to
        SPLIT_TRIES rounds, then the batch goes back to the queue; one that waits for its
        confirm is left to wait, never sent again (the broker may only be slow to read, as
        in a resource alarm). All this for as long as the consuming connection lives: once
        it is lost the batch comes back anyway. Either way the tasks that went already are
        then queued twice (converted twice, recorded once)."""
        message_ids = _strings(message.headers.get("message_ids"), len(bodies))
        task_ids = _strings(message.headers.get("task_ids"), len(bodies))
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
        this = asyncio.current_task()
        if this is not None:
            self._splits.add(this)
        in_flight = {asyncio.ensure_future(self._publish_alone(m)): m for m in singles}
        try:
            attempt = 0
            while in_flight:
                done, _ = await asyncio.wait(in_flight, timeout=SPLIT_SECONDS)
                failed = [(in_flight.pop(t), _failure(t)) for t in done]
                failed = [(single, error) for single, error in failed if error is not None]
                if not failed:
                    if in_flight:
                        log.warning("task_batch_split_unconfirmed", left=len(in_flight))
                    continue
                attempt += 1
                metrics.BATCH_SPLIT_FAILURES.inc(len(failed))
                if attempt >= SPLIT_TRIES:
                    log.warning("task_batch_split_given_up", error=repr(failed[0][1]))
                    await whole.requeue()
                    return
                delay = backoff_delay(attempt, initial=0.5, cap=SPLIT_RETRY_MAX_SECONDS)
                log.warning(
                    "task_batch_split_retry",
                    failed=len(failed),
                    retry_in=delay,
                    error=repr(failed[0][1]),
                )
                await asyncio.sleep(delay)
                if not self.connected:
                    return
                for single, _ in failed:
                    in_flight[asyncio.ensure_future(self._publish_alone(single))] = single
            log.info("task_batch_split", tasks=len(bodies), message_id=message.message_id)
            metrics.BATCH_SPLITS.inc()
            await whole.ack()
        except Exception:  # whatever it was, the batch must not stay held
            log.exception("task_batch_split_failed")
            await whole.requeue()
        finally:
            for publish in in_flight:
                publish.cancel()
            if this is not None:
                self._splits.discard(this)

    async def _publish_alone(self, single: aio_pika.Message) -> None:
        exchange = await self._split_exchange()
        await exchange.publish(single, routing_key=self._queue.name, mandatory=True)

    async def _split_exchange(self) -> AbstractExchange:
        async with self._publishing_opened:
            if self._closing:
                raise RuntimeError("the consumer is closing")
            if self._split_to is None:
                connection = await aio_pika.connect_robust(
                    self._url, reconnect_interval=self._reconnect_interval
                )
                try:
                    channel = await connection.channel(
                        publisher_confirms=True, on_return_raises=True
                    )
                    exchange = await channel.get_exchange(SPLIT_EXCHANGE, ensure=False)
                except BaseException:
                    await connection.close()
                    raise
                self._publishing_connection, self._split_to = connection, exchange
            return self._split_to

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
        self._closing = True
        if self._splits:  # a split's batch acked, not split again by the next worker
            await bounded_step(asyncio.wait(set(self._splits)), "batch_splits")
        await bounded_step(self._acks.flushed(), "acks_flush")
        async with self._publishing_opened:  # none is being opened now, nor will be
            publishing, self._publishing_connection = self._publishing_connection, None
        if publishing is not None:
            await bounded_step(publishing.close(), "split_connection_close")
        await bounded_step(self._connection.close(), "broker_connection_close")


def _failure(publish: asyncio.Future[None]) -> BaseException | None:
    """Why a finished publish failed (None: confirmed); cancelled counts as failed (aiormq
    closes a connection it finds stuck with CancelledError as its reason)."""
    if publish.cancelled():
        return asyncio.CancelledError("the publish was cancelled")
    return publish.exception()


def _strings(value: object, count: int) -> Sequence[str | None]:
    """A header's list of strings, or `count` Nones if it is not one of that length."""
    if isinstance(value, list) and len(value) == count:
        return [item.decode() if isinstance(item, bytes) else str(item) for item in value]
    return [None] * count
