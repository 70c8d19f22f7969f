"""The relay with a pause after each confirmed publish, for the fault suite only.

Run as `python -m tests.support.slow_relay` in place of `python -m pyservices.publisher`:
the pause between the broker's confirm and the delete of the rows is wide enough to kill
the relay inside it. The real relay, wired by its bootstrap, with its publisher wrapped.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping

from pyservices.common import lifecycle
from pyservices.common.backoff import until_connected
from pyservices.publisher.bootstrap import build, connect_publisher
from pyservices.publisher.domain import OutboxEvent
from pyservices.publisher.ports import EventPublisher
from pyservices.publisher.settings import PublisherSettings

MODULE = "tests.support.slow_relay"
DELAY_SECONDS = float(os.environ.get("SLOW_RELAY_DELAY_SECONDS", "2"))


class SlowPublisher(EventPublisher):
    def __init__(self, inner: EventPublisher, delay: float) -> None:
        super().__init__()
        # The relay waits on these: they must be the real connection's.
        self.reconnected, self.unblocked = inner.reconnected, inner.unblocked
        self._inner, self._delay = inner, delay

    async def publish(self, event: OutboxEvent) -> None:
        await self._inner.publish(event)
        await asyncio.sleep(self._delay)

    async def tasks_waiting(self) -> Mapping[str, int]:
        return await self._inner.tasks_waiting()

    async def ping(self) -> bool:
        return await self._inner.ping()


async def run(settings: PublisherSettings, stop: asyncio.Event) -> None:
    publisher = await until_connected(lambda: connect_publisher(settings), stop, "broker")
    if publisher is None:
        return
    try:
        slow = SlowPublisher(publisher, DELAY_SECONDS)
        await lifecycle.serve(build(settings, publisher=slow), stop)
    finally:
        await lifecycle.bounded_step(publisher.close(), "broker_close")


if __name__ == "__main__":
    lifecycle.run_service("publisher", PublisherSettings(), run)
