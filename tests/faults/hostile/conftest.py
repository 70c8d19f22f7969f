"""Hostile input against the running five-process stack.

Every case sends one kind of abuse to one service, checks that it is refused with a
clear error (or ignored, for WebSocket frames), and then that the whole pipeline is
still up: every service healthy and a normal sendTask converted end to end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest

from devstack.infra import REPO
from devstack.stack import Ports
from tests.support.processes import ServiceProcesses


@pytest.fixture(scope="package")
def stack(
    new_database: Callable[[], str], new_vhost: Callable[[], str]
) -> Iterator[ServiceProcesses]:
    """One stack for every module here (each only adds instances of its own): five
    services started per module would cost more than its cases."""
    processes = ServiceProcesses(
        Ports.free(), new_database(), new_vhost(), REPO / "artifacts" / "e2e-logs" / "hostile"
    )
    try:
        processes.start_all()
        yield processes
    finally:
        processes.stop_all()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client
