"""The OutboxWakeups port's contract, written once and run against every adapter.

A subclass supplies a way to make the adapter with the relay's wakeup event (`listen`),
a way to commit a row to the outbox as the task service does (`add_row`), and a time
while the database cannot be reached (`outage`). Each test states one promise of the
docstrings in `pyservices/publisher/ports.py`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from pyservices.publisher.ports import OutboxWakeups

Listen = Callable[[asyncio.Event], OutboxWakeups]
AddRow = Callable[[], Awaitable[None]]
Outage = Callable[[], AbstractAsyncContextManager[None]]
SECONDS = 5.0


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + SECONDS
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)


async def ping_is_true(wakeups: OutboxWakeups) -> bool:
    try:
        return await wakeups.ping() is True
    except Exception:  # raising is an answer too: /health shows it down
        return False


@asynccontextmanager
async def running(wakeups: OutboxWakeups) -> AsyncIterator[None]:
    """`run` until the block ends, then it must return promptly."""
    stop = asyncio.Event()
    task = asyncio.create_task(wakeups.run(stop))
    try:
        await until(lambda: ping_is_true(wakeups), "never listening")
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, SECONDS)


class OutboxWakeupsContract:
    @pytest.fixture
    def listen(self) -> Listen:
        raise NotImplementedError("makes the adapter under test, setting this event")

    @pytest.fixture
    def add_row(self) -> AddRow:
        raise NotImplementedError("commits one row to the outbox the adapter watches")

    @pytest.fixture
    def outage(self) -> Outage:
        raise NotImplementedError("while entered, the database cannot be reached")

    async def test_ping_is_not_true_before_it_runs(self, listen: Listen) -> None:
        assert not await ping_is_true(listen(asyncio.Event()))

    async def test_a_row_added_while_it_runs_sets_the_wakeup(
        self, listen: Listen, add_row: AddRow
    ) -> None:
        wakeup = asyncio.Event()
        wakeups = listen(wakeup)

        async with running(wakeups):
            wakeup.clear()
            await add_row()

            await asyncio.wait_for(wakeup.wait(), SECONDS)

    async def test_it_sets_the_wakeup_when_it_starts_listening(self, listen: Listen) -> None:
        # Rows committed while nobody listened were announced to nobody.
        wakeup = asyncio.Event()

        async with running(listen(wakeup)):
            assert wakeup.is_set()

    async def test_ping_is_not_true_once_it_stopped(self, listen: Listen) -> None:
        wakeups = listen(asyncio.Event())

        async with running(wakeups):
            pass

        assert not await ping_is_true(wakeups)

    async def test_after_an_outage_it_listens_again_and_sets_the_wakeup(
        self, listen: Listen, add_row: AddRow, outage: Outage
    ) -> None:
        wakeup = asyncio.Event()
        wakeups = listen(wakeup)

        async with running(wakeups):
            async with outage():
                await until(lambda: _not(ping_is_true(wakeups)), "ping true while down")
                wakeup.clear()

            await until(lambda: ping_is_true(wakeups), "never listening again")
            assert wakeup.is_set()  # what was added meanwhile is read at once
            wakeup.clear()
            await add_row()
            await asyncio.wait_for(wakeup.wait(), SECONDS)


async def _not(answer: Awaitable[bool]) -> bool:
    return not await answer
