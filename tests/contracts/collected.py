"""What an adapter hands to a callback, kept in order for a contract to wait on."""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

T = TypeVar("T")
SECONDS = 5.0  # a bound on every wait, so that a broken adapter fails, not hangs
QUIET_SECONDS = 0.3  # how long "nothing more arrives" is watched for


class Collected(Generic[T]):
    """A callback that keeps what it is given."""

    def __init__(self) -> None:
        self._items: asyncio.Queue[T] = asyncio.Queue()

    def __call__(self, item: T) -> None:
        self._items.put_nowait(item)

    async def take(self, count: int) -> list[T]:
        """The next `count` items, waiting at most SECONDS for them."""

        async def take() -> list[T]:
            return [await self._items.get() for _ in range(count)]

        return await asyncio.wait_for(take(), SECONDS)

    async def none_more(self) -> bool:
        """Whether nothing more arrives for QUIET_SECONDS (an absence has no event)."""
        await asyncio.sleep(QUIET_SECONDS)
        return self._items.empty()
