"""Probes of the running stack the fault cases share: metrics, queue depths, memory,
and a WebSocket client that never reads."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from collections.abc import Awaitable, Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from pyservices.common.topology import PROCESS_QUEUE
from tests.faults.conftest import FaultStack
from tests.faults.maximum import status_mib


async def until(check: Callable[[], Awaitable[object]], seconds: float) -> None:
    async with asyncio.timeout(seconds):
        while not await check():  # noqa: ASYNC110 (another process)
            await asyncio.sleep(0.1)


async def unacknowledged(stack: FaultStack) -> int:
    pipeline = stack.pipeline
    depths = await asyncio.to_thread(pipeline.rabbitmq.queue_depths, pipeline.vhost)
    return depths[PROCESS_QUEUE][1]


async def metric_lines(stack: FaultStack, name: str, metric: str) -> dict[str, float]:
    service = name.split("-")[0]
    url = stack.processes.instance_ports[name].health_url(service).replace("/health", "/metrics")
    async with httpx.AsyncClient() as http:
        text = (await http.get(url)).text
    return {
        series(sample.name, sample.labels): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == metric
    }


def series(name: str, labels: dict[str, str]) -> str:
    """`name{label="value"}` as the exposition format writes it."""
    if not labels:
        return name
    return name + "{" + ",".join(f'{key}="{value}"' for key, value in labels.items()) + "}"


async def metric(stack: FaultStack, name: str, metric: str) -> float:
    return sum((await metric_lines(stack, name, metric)).values())


def rss_mib(pid: int) -> float:
    return status_mib(pid, "VmRSS")


async def websocket_handshake(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int
) -> None:
    """Upgrade a fresh connection to the WebSocket service's /ws by hand (RFC 6455)."""
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    answer = await reader.readuntil(b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 101"), answer


async def connect_and_never_read(port: int) -> asyncio.StreamWriter:
    """A WebSocket client that completes the handshake and then reads nothing at all."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills up sooner
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock)
    await websocket_handshake(reader, writer, port)
    transport = writer.transport
    assert isinstance(transport, asyncio.ReadTransport)
    transport.pause_reading()
    return writer
