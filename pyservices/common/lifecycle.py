"""Process lifecycle: run until SIGTERM or SIGINT, then let the service drain."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from pyservices.common.logging import configure_logging, get_logger
from pyservices.common.memory import tune_allocator

log = get_logger(__name__)

# The most one call to a dependency may take while a service shuts down: a robust AMQP
# channel, for one, waits for a reconnect that may never come.
SHUTDOWN_STEP_SECONDS = 2.0


class _HasLogLevel(Protocol):
    @property
    def log_level(self) -> str: ...


S = TypeVar("S", bound=_HasLogLevel)


def shutdown_event() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT (call from inside the running loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def bounded_step(
    step: Awaitable[object], name: str, seconds: float = SHUTDOWN_STEP_SECONDS
) -> None:
    """Await one shutdown step for at most `seconds`; log and go on if it fails."""
    try:
        await asyncio.wait_for(step, seconds)
    except Exception as error:
        log.warning("shutdown_step_failed", step=name, error=repr(error))


def run_service(name: str, settings: S, run: Callable[[S, asyncio.Event], Awaitable[None]]) -> None:
    """The body of every service's `main()`: logging, then `run` until a stop signal."""
    tune_allocator()
    configure_logging(name, settings.log_level)

    async def serve() -> None:
        await run(settings, shutdown_event())

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
