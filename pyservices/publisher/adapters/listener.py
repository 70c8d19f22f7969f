"""LISTEN outbox on a dedicated connection, reconnected after a database outage."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg

from pyservices.common.backoff import backoff_delay
from pyservices.common.logging import get_logger
from pyservices.publisher.ports import OutboxWakeups

log = get_logger(__name__)

CHANNEL = "outbox"
# How often an idle listening connection is probed: a silently dead link sends no
# termination, and the fallback poll alone would then carry every event.
KEEPALIVE_SECONDS = 15.0


class OutboxListener(OutboxWakeups):
    """Sets `wakeup` on every NOTIFY of the `outbox` channel (one per inserting statement)."""

    def __init__(self, database_url: str, wakeup: asyncio.Event | None = None) -> None:
        super().__init__(wakeup)
        self._database_url = database_url
        self._connection: Any = None

    @property
    def listening(self) -> bool:
        return self._connection is not None and not self._connection.is_closed()

    async def ping(self) -> bool:
        return self.listening

    async def run(self, stop: asyncio.Event) -> None:
        attempt = 0
        while not stop.is_set():
            try:
                await self._listen_until_lost(stop)
                attempt = 0
            except Exception as exc:  # any database trouble: reconnect, never give up
                attempt += 1
                delay = backoff_delay(attempt)
                log.warning("outbox_listener_down", error=repr(exc), retry_in=delay)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
            finally:
                await self._close()

    async def _listen_until_lost(self, stop: asyncio.Event) -> None:
        lost = asyncio.Event()
        connection = await asyncpg.connect(self._database_url, timeout=10)
        try:
            connection.add_termination_listener(lambda _: lost.set())
            await connection.add_listener(CHANNEL, self._notified)
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 5)
            raise
        # Listening only now that LISTEN is issued: ping() must not say so before.
        self._connection = connection
        log.info("outbox_listener_up")
        # Rows committed while nobody listened got no notification we could see.
        self.wakeup.set()
        while not stop.is_set() and not lost.is_set():
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(lost.wait())]
            done, _ = await asyncio.wait(
                waiters, timeout=KEEPALIVE_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in waiters:
                waiter.cancel()
            if not done:
                await self._connection.fetchval("SELECT 1", timeout=5)
        if lost.is_set():
            raise ConnectionError("listening connection lost")

    def _notified(self, *_: object) -> None:
        self.wakeup.set()

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 5)
