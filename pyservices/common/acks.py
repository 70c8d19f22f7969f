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

from aio_pika.abc import AbstractIncomingMessage
import aiormq
from aiormq import spec
from aiormq.abc import ChannelFrame
from aiormq.exceptions import ChannelInvalidStateError

from pyservices.common.logging import get_logger

log = get_logger(__name__)


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
            channel = message.channel
        except ChannelInvalidStateError as exc:  # closed: the broker delivers it again
            log.warning("delivery_ack_failed", error=repr(exc))
            return
        if not isinstance(channel, aiormq.Channel):
            raise TypeError(f"an aiormq channel, not {type(channel).__name__}")
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
                    if channel.is_closed:
                        continue
                    if self._multiple:
                        frames = [spec.Basic.Ack(delivery_tag=max(channel_tags), multiple=True)]
                    else:
                        frames = [spec.Basic.Ack(delivery_tag=tag) for tag in channel_tags]
                    try:
                        await channel.write_queue.put(ChannelFrame.marshall(channel.number, frames))
                    except Exception as exc:  # the channel is gone: the broker redelivers
                        log.warning("delivery_ack_failed", error=repr(exc))
        finally:
            self._flushing = None
