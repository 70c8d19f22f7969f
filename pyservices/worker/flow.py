"""A byte budget for what the worker holds, and pausing consumption while over it.

The broker's prefetch counts deliveries, not bytes: 256 deliveries of 64 KiB messages
become 128 MiB of binary codes waiting for the task service's acks. So every byte the
worker holds is counted, a delivery's body from its arrival until it is settled and a
result from its conversion until the task service answers it, and while the total is
over the budget the consumer is paused (basic.cancel: deliveries already taken stay
unacked and are settled as usual). It resumes once the total is back under half of
the budget, so that it does not flap on every ack. Deliveries already taken are not
converted while over the budget either: each would add eight times its size in code.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping

from pyservices.common.logging import get_logger
from pyservices.worker import metrics
from pyservices.worker.ports import Delivery, DeliverySource

log = get_logger(__name__)

# While paused, the intended state is checked again this often even without a change
# (a resume that failed because the broker was away is retried).
RECHECK_SECONDS = 1.0
# The most one pause or resume may take (a half-open connection never answers).
CHANGE_SECONDS = 5.0


class HeldBytes:
    def __init__(self, budget: int, lane: str = "") -> None:
        self.budget = max(1, budget)
        self.held = 0
        self.changed = asyncio.Event()
        self._gauge = metrics.HELD_BYTES.labels(lane=lane)
        self.paused_gauge = metrics.CONSUMER_PAUSED.labels(lane=lane)

    def add(self, size: int) -> None:
        self.held += size
        self._gauge.set(self.held)
        self.changed.set()

    def remove(self, size: int) -> None:
        self.held = max(0, self.held - size)
        self._gauge.set(self.held)
        self.changed.set()

    async def room(self, releasing: Callable[[], bool]) -> None:
        """Until the held bytes are within the budget, or waiting would release nothing
        (`releasing()` is False: no result awaits an answer), so work always goes on."""
        while self.held > self.budget and releasing():
            self.changed.clear()
            await self.changed.wait()

    def should_pause(self, paused: bool) -> bool:
        """Pause above the budget; once paused, stay paused until under half of it."""
        return self.held > self.budget // 2 if paused else self.held > self.budget


class CountedDelivery(Delivery):
    """A delivery whose body counts against the budget until it is settled (once)."""

    __slots__ = ("_delivery", "_held", "_size", "body")

    def __init__(self, delivery: Delivery, held: HeldBytes) -> None:
        self._delivery = delivery
        self._held = held
        self.body = delivery.body
        self._size = len(delivery.body)
        held.add(self._size)

    @property
    def headers(self) -> Mapping[str, object]:
        return self._delivery.headers

    @property
    def redelivered(self) -> bool:
        return self._delivery.redelivered

    @property
    def with_others(self) -> bool:
        return self._delivery.with_others

    async def ack(self) -> None:
        self._release()
        await self._delivery.ack()

    async def reject(self) -> None:
        self._release()
        await self._delivery.reject()

    def _release(self) -> None:
        if self._size:
            self._held.remove(self._size)
            self._size = 0


async def control_flow(held: HeldBytes, source: DeliverySource, stop: asyncio.Event) -> None:
    """Pause and resume `source` as the held bytes cross the budget, until `stop`.

    It steers by the source's actual state, not by what it last asked for: a pause or a
    resume that failed half-way (the broker went away) is put right on the next check.
    """
    while not stop.is_set():
        held.changed.clear()
        paused = not source.consuming
        want_paused = held.should_pause(paused)
        if want_paused != paused:
            try:
                change = source.pause() if want_paused else source.resume()
                await asyncio.wait_for(change, CHANGE_SECONDS)
            except Exception as exc:  # the broker is away: try again on the next check
                log.warning("consumer_flow_change_failed", pause=want_paused, error=repr(exc))
            else:
                log.info("consumer_paused" if want_paused else "consumer_resumed", held=held.held)
        held.paused_gauge.set(int(not source.consuming))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_first(stop, held.changed), RECHECK_SECONDS)


async def _first(*events: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
