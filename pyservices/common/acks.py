"""Acking a consumer's deliveries together: the acks of one loop turn leave in one socket
write per channel, instead of one frame, one write and one wait for the drain per
message (py-spy put the per-message ack at about 8 % of the WebSocket service's CPU
under load, and the worker's at about 5 %).

`multiple=True` sends a single `basic.ack` for the newest tag, which also acks every
earlier delivery of its channel not yet settled: only for a consumer that settles every
delivery, in the order they arrived, and never one twice (the WebSocket service's
consumer acks each event once handled). Otherwise each delivery gets its own
`basic.ack` frame, all in the one write: the worker settles deliveries one by one, and
one it never settles must stay unacked so the broker delivers it again.

A channel closed before the flush is skipped: the broker delivers its unacked messages
again, as it would have for acks lost with the connection.
"""

from __future__ import annotations

import asyncio
from typing import cast

import aiormq
from aio_pika.abc import AbstractIncomingMessage
from aiormq import spec
from aiormq.abc import ChannelFrame
from aiormq.exceptions import ChannelInvalidStateError

from pyservices.common.logging import get_logger

log = get_logger(__name__)

# How long acks wait for room in a connection's write queue before they are dropped.
ACK_QUEUE_SECONDS = 10.0


class AckBatcher:
    def __init__(self, *, multiple: bool = False) -> None:
        self._multiple = multiple
        self._tags: dict[aiormq.Channel, list[int]] = {}
        self._flushing: asyncio.Task[None] | None = None

    def ack(self, message: AbstractIncomingMessage) -> None:
        """Ack `message` at the next loop turn, with the others acked meanwhile."""
        tag = message.delivery_tag
        if tag is None:  # consumed without acks: nothing to send
            return
        try:
            channel = cast(aiormq.Channel, message.channel)
        except ChannelInvalidStateError as exc:  # closed: the broker delivers it again
            log.warning("delivery_ack_failed", error=repr(exc))
            return
        self._tags.setdefault(channel, []).append(tag)
        if self._flushing is None:
            self._flushing = asyncio.get_running_loop().create_task(self._flush())

    async def flushed(self) -> None:
        """Return once every ack so far has been handed to its connection."""
        while (flushing := self._flushing) is not None:
            await asyncio.shield(flushing)

    async def _flush(self) -> None:
        try:
            while self._tags:
                tags, self._tags = self._tags, {}
                for channel, channel_tags in tags.items():
                    if not _open(channel):
                        continue
                    if self._multiple:
                        frames = [spec.Basic.Ack(delivery_tag=max(channel_tags), multiple=True)]
                    else:
                        frames = [spec.Basic.Ack(delivery_tag=tag) for tag in channel_tags]
                    try:
                        await _send(channel, ChannelFrame.marshall(channel.number, frames))
                    except Exception as exc:  # the channel is gone: the broker redelivers
                        log.warning("delivery_ack_failed", error=repr(exc))
        finally:
            self._flushing = None


def _open(channel: aiormq.Channel) -> bool:
    """Whether frames may still go on `channel`. A channel the broker closed has queued
    its CloseOk before `is_closed` turns true; a frame after that would be refused with
    the whole connection (CHANNEL_ERROR). aiormq's own `basic_ack` checks the same
    private event."""
    closed_by_broker = getattr(channel, "_Channel__close_event", None)
    return not channel.is_closed and not (
        isinstance(closed_by_broker, asyncio.Event) and closed_by_broker.is_set()
    )


async def _send(channel: aiormq.Channel, frame: ChannelFrame) -> None:
    """Queue `frame` for the connection's writer. The queue is short (aiormq's frame
    buffer): when a stalled socket has filled it, wait for room, but give up when the
    channel closes or after `ACK_QUEUE_SECONDS`, so that one dead connection never holds
    up the acks of the next (its unacked deliveries come again anyway)."""
    queue = channel.write_queue
    try:
        queue.put_nowait(frame)
        return
    except asyncio.QueueFull:
        pass
    put = asyncio.ensure_future(queue.put(frame))
    closing = channel.closing
    try:
        await asyncio.wait(
            [put, closing], timeout=ACK_QUEUE_SECONDS, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        closing.cancel()  # only this observer
        if not put.done():
            put.cancel()
            log.warning("delivery_ack_dropped", reason="the connection's writer is stuck")
