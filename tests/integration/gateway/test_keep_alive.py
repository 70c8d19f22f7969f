"""Connections kept alive longer than any proxy in front keeps them idle.

A proxy (an Ingress controller, a load balancer: 60 s idle) or a client pool reuses an
idle connection; if the gateway closed it first (uvicorn's default is 5 s), the request
sent on it meets a closed socket: a 502 at the proxy, a bare error at the client. Here
one raw connection sends a request, idles over 5 s, and sends the next on the same
socket, which must be answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from devstack.infra import free_port
from pyservices.common import lifecycle
from pyservices.gateway.bootstrap import build
from pyservices.gateway.settings import GatewaySettings
from tests.unit.gateway.gateway_fakes import FakeTaskService

pytestmark = pytest.mark.integration

REQUEST = (
    b"POST /query HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
    b'Content-Length: 27\r\n\r\n{"query": "{ __typename }"}'
)


async def running_gateway(**settings: Any) -> AsyncIterator[int]:
    port = free_port()
    gateway = build(GatewaySettings(gateway_port=port, **settings), task_service=FakeTaskService())
    stop = asyncio.Event()
    serving = asyncio.create_task(lifecycle.serve(gateway, stop))
    for _ in range(200):  # until it listens
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            break
        except OSError:
            await asyncio.sleep(0.02)
    yield port
    stop.set()
    await serving


@pytest.fixture
async def gateway() -> AsyncIterator[int]:
    async for port in running_gateway():
        yield port


async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    writer.write(REQUEST)
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    await reader.readexactly(length)
    return head.split(b"\r\n")[0]


async def test_a_connection_idle_for_longer_than_5_s_still_answers(gateway: int) -> None:
    assert GatewaySettings().http_keep_alive_seconds > 60  # above the Ingress's idle timeout
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway)
    try:
        assert await answer(reader, writer) == b"HTTP/1.1 200 OK"
        await asyncio.sleep(6.5)  # the idle time itself is what is tested
        assert await answer(reader, writer) == b"HTTP/1.1 200 OK"
    finally:
        writer.close()


async def test_the_keep_alive_is_the_setting() -> None:
    async for port in running_gateway(http_keep_alive_seconds=1):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            await answer(reader, writer)
            closed = await asyncio.wait_for(reader.read(), 5)  # the server closes it at 1 s
        finally:
            writer.close()
        assert closed == b""
