"""The WebSocket service at its documented maximum of connections (WEBSOCKET_MAX_CONNECTIONS,
10,000), against the real stack: every one of them gets a result, the next connection
is refused with 1013 and the others keep theirs, and the service stays within its
deployed memory limit."""

from __future__ import annotations

import asyncio
import struct
import time

import httpx
import orjson
import pytest

from pyservices.websocket.domain import TRY_AGAIN_LATER
from pyservices.websocket.settings import WebSocketSettings
from tests.faults.conftest import FaultStack
from tests.faults.maximum import memory_limits_mib, peak_rss_mib
from tests.faults.probes import websocket_handshake
from tests.support.client import send_task_mutation

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

MAX_CONNECTIONS = WebSocketSettings().websocket_max_connections
OPENING_AT_ONCE = 250  # handshakes in flight: a browser crowd, not a SYN flood


class RawClient:
    """A WebSocket client as small as one can be (10,000 of them share this process):
    the handshake by hand, then server frames read as they come (unmasked, RFC 6455)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await websocket_handshake(reader, writer, port)
        return cls(reader, writer)

    async def frame(self) -> tuple[int, bytes]:
        """The next frame's opcode and payload."""
        head = await self.reader.readexactly(2)
        opcode, length = head[0] & 0x0F, head[1] & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return opcode, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def _open(port: int, count: int) -> list[RawClient]:
    limit = asyncio.Semaphore(OPENING_AT_ONCE)

    async def one() -> RawClient:
        async with limit:
            return await RawClient.connect(port)

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def test_the_websocket_service_serves_its_maximum_of_connections(
    fault_stack: FaultStack,
) -> None:
    stack = fault_stack
    # One caller (every client here is 127.0.0.1) may hold them all: the total cap is tested.
    per_caller = {"WEBSOCKET_MAX_CONNECTIONS_PER_CALLER": str(MAX_CONNECTIONS)}
    await stack.start_all(env={"websocket": per_caller})
    port = stack.ports.websocket
    clients: list[RawClient] = []
    try:
        started = time.perf_counter()
        clients = await _open(port, MAX_CONNECTIONS)
        opened_in = time.perf_counter() - started

        extra = await RawClient.connect(port)
        opcode, payload = await asyncio.wait_for(extra.frame(), 10)
        extra.close()
        assert opcode == 0x8 and struct.unpack("!H", payload[:2])[0] == TRY_AGAIN_LATER

        async with httpx.AsyncClient() as http:
            sent = await http.post(
                stack.ports.graphql_url,
                json={"query": send_task_mutation("id"), "variables": {"m": ["A"]}},
                timeout=30,
            )
        task_id = sent.json()["data"]["sendTask"][0]["id"]
        started = time.perf_counter()
        frames = await asyncio.wait_for(asyncio.gather(*(c.frame() for c in clients)), 60)
        pushed_in = time.perf_counter() - started
        peaks = peak_rss_mib(stack.processes.running)
    finally:
        for client in clients:
            client.close()

    assert {opcode for opcode, _ in frames} == {0x1}  # text frames
    results = [orjson.loads(payload) for _, payload in frames]
    assert all(r["id"] == task_id and r["binaryCode"] == "01000001" for r in results)
    limit = memory_limits_mib()["websocket"]
    print(
        f"{MAX_CONNECTIONS:,} connections opened in {opened_in:.1f} s, one result on all of "
        f"them in {pushed_in:.2f} s, websocket service peak RSS {peaks['websocket']:.0f} MiB "
        f"of {limit:.0f} MiB"
    )
    assert peaks["websocket"] < limit
