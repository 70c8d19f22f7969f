"""Shared mechanisms: the embedded HTTP server's start failure, connecting with backoff."""

from __future__ import annotations

import asyncio
import socket

import pytest

from pyservices.common import ops
from pyservices.common.backoff import backoff_delay, until_connected


async def test_a_port_in_use_is_an_ordinary_error_not_a_system_exit() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = ops.embedded_server(ops.ops_app({}), "127.0.0.1", port)

        with pytest.raises(RuntimeError, match="failed to start"):
            await asyncio.wait_for(server.serve(), 10)


async def test_until_connected_retries_until_the_dependency_answers() -> None:
    attempts = 0

    async def connect() -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ConnectionError("not yet")
        return "connected"

    assert await until_connected(connect, asyncio.Event(), "thing", cap=0.01) == "connected"
    assert attempts == 3


async def test_until_connected_gives_up_once_stopped() -> None:
    stop = asyncio.Event()
    stop.set()

    async def never() -> str:
        raise AssertionError("must not be called after stop")

    assert await until_connected(never, stop, "thing") is None


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff_delay(n, initial=0.1, cap=0.5) for n in (1, 2, 3, 4)] == [0.1, 0.2, 0.4, 0.5]
