"""Behind an Ingress, the proxy keeps idle connections to the gateway and the WebSocket
service open for reuse (ingress-nginx: 60 s). A service that closes an idle connection
sooner (uvicorn's default 5 s) races the proxy's next request on it: a 502. So each
keeps an idle connection for HTTP_KEEP_ALIVE_SECONDS, longer than the proxy does."""

from __future__ import annotations

import asyncio

import httpx

from devstack.infra import free_port
from pyservices.common import lifecycle
from pyservices.gateway.settings import GatewaySettings
from pyservices.websocket.settings import WebSocketSettings

from .test_metrics_port import answering, gateway, websocket

# uvicorn's default keep-alive is 5 s: idle longer than that.
IDLE_SECONDS = 6.0
INGRESS_NGINX_UPSTREAM_KEEPALIVE_SECONDS = 60  # its upstream-keepalive-timeout default


async def health_twice_on_one_connection(port: int) -> list[bytes]:
    """GET /health, stay idle, GET /health again on the same connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = b"GET /health HTTP/1.1\r\nHost: binconv\r\n\r\n"
    statuses = []
    try:
        for attempt in range(2):
            if attempt:
                await asyncio.sleep(IDLE_SECONDS)  # the idle time is the subject
            writer.write(request)
            await writer.drain()
            statuses.append(await reader.readline())
            headers = b""
            while not headers.endswith(b"\r\n\r\n"):
                line = await reader.readline()
                assert line, "the server closed the connection"
                headers += line
            length = next(
                int(line.split(b":")[1])
                for line in headers.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
    finally:
        writer.close()
    return statuses


async def test_a_connection_idle_longer_than_uvicorns_default_still_serves() -> None:
    ports = free_port(), free_port()
    services = [gateway(ports[0], None), websocket(ports[1], None)]
    stop = asyncio.Event()
    running = [asyncio.create_task(lifecycle.serve(service, stop)) for service in services]
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            for port in ports:
                await answering(http, f"http://127.0.0.1:{port}/health")
        answers = await asyncio.gather(*(health_twice_on_one_connection(p) for p in ports))
    finally:
        stop.set()
        await asyncio.gather(*running)
    for statuses in answers:
        assert [status.split(b" ")[1] for status in statuses] == [b"200", b"200"]


def test_keep_alive_outlives_the_ingress_idle_connections() -> None:
    for settings in (GatewaySettings(), WebSocketSettings()):
        assert settings.http_keep_alive_seconds > INGRESS_NGINX_UPSTREAM_KEEPALIVE_SECONDS
