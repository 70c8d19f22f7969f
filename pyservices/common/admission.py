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
