"""Waiting for an in-process service's /health: the dev stack's one waiter, off the loop."""

from __future__ import annotations

import asyncio
from typing import Any

from devstack.stack import wait_healthy


async def until_healthy(
    url: str, seconds: float = 20, service: asyncio.Task[Any] | None = None
) -> None:
    """Until `url` answers 200; fails at once if the `service` task has ended."""

    def gone() -> str | None:
        if service is None or not service.done():
            return None
        return f"the service ended: {service!r}"

    await asyncio.to_thread(wait_healthy, url, seconds, gone)
