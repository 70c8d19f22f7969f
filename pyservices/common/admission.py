"""Admission by size: small requests go through at once, large ones a few at a time.

What a request costs a service in memory grows with its size: a request of 1,000
messages of 64 KiB costs the gateway and the task service a few times its 64 MiB
while it is parsed, copied into protobuf and stored. So what bounds a service's memory
is how many large requests it works on at once, not how many requests it has. A large
request waits for its turn (first come, first served); small ones never wait, so one
user's big uploads never hold up anyone's short tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class LargeRequestGate:
    def __init__(self, threshold_bytes: int, at_once: int) -> None:
        self.threshold_bytes = threshold_bytes
        self._turns = asyncio.Semaphore(max(1, at_once))
        self.waiting = 0

    def is_large(self, size: int) -> bool:
        return size > self.threshold_bytes

    @contextlib.asynccontextmanager
    async def turn(self, wait_seconds: float | None = None) -> AsyncIterator[None]:
        """Hold one of the large-request turns for the duration of the block; raise
        TimeoutError if none came within `wait_seconds` (None: wait as long as it takes)."""
        self.waiting += 1
        try:
            await asyncio.wait_for(self._turns.acquire(), wait_seconds)
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self._turns.release()


class BodyBudget:
    """Bytes of request bodies worked on at once, each charged its full size up front.

    What a request costs grows with its body (the gateway: about six times it, at the
    worst), so the budget is in bytes: many medium requests are bounded as surely as
    one maximum one. A request waits until its body fits (one alone always fits, however
    big). Large ones (over `large_bytes`) wait in order of arrival; smaller ones need
    only room, so a short request is never held behind a queue of large ones.
    """

    def __init__(self, capacity_bytes: int, large_bytes: int) -> None:
        self.capacity = max(1, capacity_bytes)
        self.large_bytes = large_bytes
        self.used = 0
        self.waiting = 0
        self._room = asyncio.Condition()
        self._large_line = asyncio.Lock()  # first come, first served among large ones

    def is_large(self, size: int) -> bool:
        return size > self.large_bytes

    @contextlib.asynccontextmanager
    async def hold(self, size: int, wait_seconds: float | None = None) -> AsyncIterator[None]:
        """Charge `size` bytes for the block; raise TimeoutError if they did not fit
        within `wait_seconds` (None: wait as long as it takes)."""
        size = min(size, self.capacity)
        self.waiting += 1
        try:
            async with asyncio.timeout(wait_seconds):
                if self.is_large(size):
                    async with self._large_line:
                        await self._wait_for_room(size)
                else:
                    await self._wait_for_room(size)
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            async with self._room:
                self.used -= size
                self._room.notify_all()

    async def _wait_for_room(self, size: int) -> None:
        async with self._room:
            await self._room.wait_for(lambda: self.used == 0 or self.used + size <= self.capacity)
            self.used += size
