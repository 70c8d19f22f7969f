"""How long to wait before the next try after consecutive failures (every reconnect loop)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pyservices.common.logging import get_logger

T = TypeVar("T")
log = get_logger(__name__)


def backoff_delay(attempt: int, initial: float = 0.05, cap: float = 5.0) -> float:
    """Exponential backoff for the `attempt`-th consecutive failure (1-based), capped."""
    return float(min(cap, initial * 2 ** max(0, attempt - 1)))


async def until_connected(
    connect: Callable[[], Awaitable[T]], stop: asyncio.Event, what: str, cap: float = 5.0
) -> T | None:
    """Connect with backoff until it works, or return None once `stop` is set, so a
    service starts (and reports itself unhealthy) before its dependency is up."""
    attempt = 0
    while not stop.is_set():
        try:
            return await connect()
        except Exception as exc:  # the dependency is not there yet: wait and retry
            attempt += 1
            delay = backoff_delay(attempt, cap=cap)
            log.warning("connect_failed", dependency=what, error=repr(exc), retry_in=delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
    return None
