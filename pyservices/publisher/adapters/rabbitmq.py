"""Confirmed, persistent publishes of outbox events on a robust AMQP connection."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aio_pika
import aiormq
import orjson
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection
from aiormq.abc import ChannelFrame
from pamqp.header import ContentHeader

from pyservices.common.events import (
    TASK_CREATED,
    TASK_CREATED_BATCH,
    TASK_PROCESSED,
    join_created,
)
from pyservices.common.lifecycle import bounded_step
from pyservices.common.logging import get_logger
from pyservices.common.topology import (
    LARGE_TASK_BYTES,
    PROCESS_QUEUE,
    TASKS_MESSAGE_BYTES,
    WORK_QUEUES,
    declare_process_queue,
    declare_processed_routing,
    owner_routing_key,
    work_queue_for,
)
from pyservices.common.tracing import PUBLISHED_AT_MS, TRACEPARENT
from pyservices.publisher import metrics
from pyservices.publisher.adapters.blocking import watch_blocking
from pyservices.publisher.domain import BrokerBlocked, OutboxEvent
from pyservices.publisher.ports import EventPublisher

log = get_logger(__name__)


# How long a reading of task.process's depth serves the relay's batches.
QUEUE_DEPTH_TTL_SECONDS = 1.0
# What the tasks-per-message figure keeps of the past at each publish_many.
TASKS_PER_MESSAGE_DECAY = 0.75


class AmqpEventPublisher(EventPublisher):
    """`task.created` -> queue `task.process`; `task.processed` -> fanout `task.processed`,
    with its owner's routing key for the direct exchange bound behind it.

    Short created events without a trace context travel together: those of one
    `publish_many` go to task.process as `task.created.batch` messages of up to
    `tasks_per_message` events and `TASKS_MESSAGE_BYTES` (one confirm for all of them).
    A traced event goes alone, its trace context in its own headers.

    Created events are mandatory: a message the broker cannot route (the queue was
    deleted) comes back as a failure and its row stays. Processed events are not: a
    fanout with no WebSocket service bound has nobody to tell, so dropping is right.

    A broker in a memory or disk alarm blocks a connection at its first publish and says
    so with `connection.blocked`: `unblocked` is cleared the moment it arrives, set again
    at `connection.unblocked`, and each new connection starts unblocked.
    """

    def __init__(
        self,
        connection: AbstractRobustConnection,
        channel: AbstractChannel,
        processed: AbstractExchange,
        timeout: float,
        large_task_bytes: int = LARGE_TASK_BYTES,
        tasks_per_message: int = 1,
    ) -> None:
        super().__init__()
        connection.reconnect_callbacks.add(self._on_reconnected)
        connection.close_callbacks.add(self._on_lost)
        self._connection = connection
        self._channel = channel
        self._processed = processed
        self._timeout = timeout
        self._large_task_bytes = large_task_bytes
        self._tasks_per_message = max(1, tasks_per_message)
        # Tasks and messages sent to task.process lately (decayed sums), to read the
        # queue's depth, which the broker counts in messages, as tasks.
        self._process_sent = (1.0, 1.0)
        self._tasks_waiting: tuple[dict[str, int], float] = ({}, -QUEUE_DEPTH_TTL_SECONDS)
        self._watch_blocking()

    @classmethod
    async def connect(
        cls,
        url: str,
        publish_timeout: float = 10.0,
        *,
        reconnect_interval: float = 1.0,
        large_task_bytes: int = LARGE_TASK_BYTES,
        tasks_per_message: int = 1,
    ) -> AmqpEventPublisher:
        connection = await aio_pika.connect_robust(url, reconnect_interval=reconnect_interval)
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        for queue in WORK_QUEUES:
            await declare_process_queue(channel, queue)
        processed = await declare_processed_routing(channel)
        return cls(
            connection, channel, processed, publish_timeout, large_task_bytes, tasks_per_message
        )

    async def tasks_waiting(self) -> dict[str, int]:
        depths, read_at = self._tasks_waiting
        if time.monotonic() - read_at >= QUEUE_DEPTH_TTL_SECONDS:
            # A passive declare answers the queue's ready count. On the underlying
            # channel: aio-pika's robust channel would keep each declared queue for restore.
            channel = await self._channel.get_underlay_channel()
            depths = {}
            for queue in WORK_QUEUES:
                declared = await asyncio.wait_for(
                    channel.queue_declare(queue, passive=True), self._timeout
                )
                # The broker counts messages: read as tasks at the recent tasks per message.
                per_message = self.tasks_per_message_sent if queue == PROCESS_QUEUE else 1.0
                depths[queue] = math.ceil(int(declared.message_count or 0) * per_message)
            self._tasks_waiting = (depths, time.monotonic())
        return dict(depths)

    async def publish(self, event: OutboxEvent) -> None:
        (outcome,) = await self.publish_many([event])
        if outcome is not None:
            raise outcome

    async def publish_many(self, events: Sequence[OutboxEvent]) -> list[BaseException | None]:
        if self.blocked:
            # The broker reads nothing from a blocked connection: a message sent now
            # would only wait in the socket and time out (then go again as a duplicate).
            return [BrokerBlocked("the broker blocks publishes (resource alarm)") for _ in events]
        outcomes: list[BaseException | None] = [None] * len(events)
        # Each message with the indexes of the events it carries.
        routed: list[tuple[list[int], _Route]] = []
        together: list[int] = []
        for index, event in enumerate(events):
            if self._travels_together(event):
                together.append(index)
                continue
            try:
                routed.append(([index], self._route(event)))
            except ValueError as error:
                outcomes[index] = error
        sizes = [len(events[index].payload) for index in together]
        for positions in message_groups(sizes, self._tasks_per_message):
            group = [together[position] for position in positions]
            route = self._route(events[group[0]]) if len(group) == 1 else _batch(events, group)
            routed.append((group, route))
        self._count_sent(routed)
        if not routed:
            return outcomes
        # A robust channel waits for a reconnect: bound the wait so the batch fails,
        # its transaction ends, and the relay backs off instead of holding row locks.
        deadline = asyncio.get_running_loop().time() + self._timeout
        confirmations: list[asyncio.Future[object]] = []
        try:
            async with asyncio.timeout_at(deadline):
                channel = await self._channel.get_underlay_channel()
                confirmations = await _write_together(channel, [route for _, route in routed])
        except Exception as error:  # nothing was written: every routed event failed
            for indexes, _ in routed:
                for index in indexes:
                    outcomes[index] = error
            return outcomes
        remaining = max(0.0, deadline - asyncio.get_running_loop().time())
        await asyncio.wait(confirmations, timeout=remaining)
        for (indexes, _), confirmation in zip(routed, confirmations, strict=True):
            outcome: BaseException | None
            if not confirmation.done():
                confirmation.cancel()  # a late confirm is then ignored
                outcome = TimeoutError("the broker did not confirm in time")
            elif confirmation.cancelled():
                outcome = asyncio.CancelledError("the channel closed")
            else:
                outcome = confirmation.exception()
            for index in indexes:  # a message's events share its fate
                outcomes[index] = outcome
        return outcomes

    @property
    def tasks_per_message_sent(self) -> float:
        """Tasks per task.process message lately, weighted by messages."""
        tasks, messages = self._process_sent
        return tasks / messages

    def _count_sent(self, routed: Sequence[tuple[list[int], _Route]]) -> None:
        to_process = [len(group) for group, route in routed if _to_process_queue(route)]
        if to_process:
            tasks, messages = self._process_sent
            self._process_sent = (
                tasks * TASKS_PER_MESSAGE_DECAY + sum(to_process),
                messages * TASKS_PER_MESSAGE_DECAY + len(to_process),
            )

    def _travels_together(self, event: OutboxEvent) -> bool:
        return (
            self._tasks_per_message > 1
            and event.topic == TASK_CREATED
            and event.trace_context is None
            and work_queue_for(len(event.payload), self._large_task_bytes) == PROCESS_QUEUE
        )

    def _route(self, event: OutboxEvent) -> _Route:
        headers: dict[str, Any] = {"task_id": event.task_id}
        if event.trace_context is not None:  # only traced rows have one
            headers[TRACEPARENT] = event.trace_context
            # For the consumer's queue-wait figure (whole milliseconds since the epoch).
            headers[PUBLISHED_AT_MS] = int(time.time() * 1000)
        properties = _properties(str(event.id), headers)
        if event.topic == TASK_CREATED:
            queue = work_queue_for(len(event.payload), self._large_task_bytes)
            return _Route("", queue, True, str(event.id), properties, event.payload)
        if event.topic == TASK_PROCESSED:
            key = owner_routing_key(_owner(event.payload))
            return _Route(
                self._processed.name, key, False, str(event.id), properties, event.payload
            )
        raise ValueError(f"unknown outbox topic {event.topic!r}")

    def _on_reconnected(self, *_: object) -> None:
        # A new connection starts unblocked; if the alarm is still on, the broker blocks
        # it again at its first publish.
        self._broker_unblocked()
        self._watch_blocking()
        self.reconnected.set()

    def _on_lost(self, *_: object) -> None:
        # A lost connection is reported as such; it no longer counts as blocked.
        self._broker_unblocked()

    def _watch_blocking(self) -> None:
        transport = self._connection.transport
        if transport is not None and not watch_blocking(
            transport.connection, self._broker_blocked, self._broker_unblocked
        ):
            log.warning("broker_block_watch_unavailable")

    def _broker_blocked(self, reason: str) -> None:
        if not self.blocked:
            log.warning("broker_blocked_publishes", reason=reason)
        self.unblocked.clear()
        metrics.BROKER_BLOCKED.set(1)

    def _broker_unblocked(self) -> None:
        if self.blocked:
            log.warning("broker_unblocked_publishes")
        self.unblocked.set()
        metrics.BROKER_BLOCKED.set(0)

    @property
    def connected(self) -> bool:
        return self._connection.connected.is_set() and not self._channel.is_closed

    async def ping(self) -> bool:
        if self.blocked:
            raise BrokerBlocked  # shown as "down: BrokerBlocked": a resource alarm
        return self.connected

    async def close(self) -> None:
        await bounded_step(self._connection.close(), "broker_connection_close")


def message_groups(
    sizes: Sequence[int], per_message: int, max_bytes: int = TASKS_MESSAGE_BYTES
) -> list[list[int]]:
    """The positions of payloads of these sizes, in consecutive runs of at most
    `per_message` and (with the array's brackets and commas) `max_bytes` of body; a
    payload too big for any company goes alone."""
    groups: list[list[int]] = []
    size = 0
    for position, payload_bytes in enumerate(sizes):
        length = payload_bytes + 1  # and its comma or a bracket
        if groups and len(groups[-1]) < per_message and size + length <= max_bytes:
            groups[-1].append(position)
            size += length
        else:
            groups.append([position])
            size = length + 1  # and the closing bracket
    return groups


def _properties(
    message_id: str, headers: dict[str, Any], message_type: str | None = None
) -> aiormq.spec.Basic.Properties:
    """A persistent JSON message's properties."""
    return aiormq.spec.Basic.Properties(
        content_type="application/json",
        delivery_mode=int(aio_pika.DeliveryMode.PERSISTENT),
        priority=0,
        message_id=message_id,
        message_type=message_type,
        headers=headers,
    )


def _to_process_queue(route: _Route) -> bool:
    return route.exchange == "" and route.routing_key == PROCESS_QUEUE


def _batch(events: Sequence[OutboxEvent], group: list[int]) -> _Route:
    """One `task.created.batch` message to task.process for these events. Its message id
    is the first row's (a returned message names it); the headers list every row's."""
    first = events[group[0]]
    headers: dict[str, Any] = {
        "message_ids": [str(events[i].id) for i in group],
        "task_ids": [events[i].task_id for i in group],
    }
    properties = _properties(str(first.id), headers, message_type=TASK_CREATED_BATCH)
    body = join_created([events[i].payload for i in group])
    return _Route("", PROCESS_QUEUE, True, str(first.id), properties, body)


@dataclass(frozen=True, slots=True)
class _Route:
    exchange: str
    routing_key: str
    # Created events must reach their queue: one the broker cannot route comes back.
    mandatory: bool
    message_id: str
    properties: aiormq.spec.Basic.Properties
    body: bytes


async def _write_together(
    channel: aiormq.abc.AbstractChannel, routes: Sequence[_Route]
) -> list[asyncio.Future[object]]:
    """Send the messages in one socket write and return one confirmation each.

    aiormq's `basic_publish` writes, drains and awaits each message on its own; here the
    frames of a whole batch go out together, with aiormq's own bookkeeping per message
    (delivery tag, confirmation, message id for a returned message), so its frame
    handlers confirm, return or reject each one as they would have.
    """
    if not isinstance(channel, aiormq.Channel):
        raise TypeError(f"an aiormq channel, not {type(channel).__name__}")
    frames: list[Any] = []
    confirmations: list[asyncio.Future[object]] = []
    async with channel.lock:
        first_tag = channel.delivery_tag
        try:
            for route in routes:
                channel.delivery_tag += 1
                tag = channel.delivery_tag
                message_id = route.message_id
                confirmation = channel.create_future()
                channel.confirmations[tag] = confirmation
                channel.message_id_delivery_tag[message_id] = tag
                confirmation.add_done_callback(_forget_message_id(channel, message_id, tag))
                confirmations.append(confirmation)
                frames += [
                    aiormq.spec.Basic.Publish(
                        exchange=route.exchange,
                        routing_key=route.routing_key,
                        mandatory=route.mandatory,
                    ),
                    ContentHeader(properties=route.properties, body_size=len(route.body)),
                    *channel._split_body(route.body),
                ]
            drained = channel.create_future()
            await channel.write_queue.put(
                ChannelFrame.marshall(channel.number, frames, drain_future=drained)
            )
        except BaseException:
            # Nothing reached the writer: give the delivery tags back.
            for tag in range(first_tag + 1, channel.delivery_tag + 1):
                channel.confirmations.pop(tag, None)
            for confirmation in confirmations:
                confirmation.cancel()
            channel.delivery_tag = first_tag
            raise
        await drained
    return confirmations


def _forget_message_id(
    channel: aiormq.Channel, message_id: str, tag: int
) -> Callable[[asyncio.Future[object]], None]:
    def forget(_: asyncio.Future[object]) -> None:
        if channel.message_id_delivery_tag.get(message_id) == tag:
            channel.message_id_delivery_tag.pop(message_id, None)

    return forget


def _owner(payload: bytes) -> str | None:
    """The `owner` of a task.processed body; None for open mode (or a body without one:
    routed to no owner, so with access control on nobody sees it)."""
    try:
        owner = orjson.loads(payload).get("owner")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return owner if isinstance(owner, str) else None
