"""METRICS_PORT on the gateway and the WebSocket service: set, /metrics (and /health)
answer on that port and /metrics is gone from the public one, which an Ingress routes;
unset, everything stays on the public port as before."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from devstack.infra import free_port
from pyservices.common import lifecycle
from pyservices.gateway import bootstrap as gateway_bootstrap
from pyservices.gateway.settings import GatewaySettings
from pyservices.websocket import bootstrap as websocket_bootstrap
from pyservices.websocket.settings import WebSocketSettings
from tests.unit.gateway.gateway_fakes import FakeTaskService
from tests.unit.websocket.websocket_fakes import FakeProcessedEvents


def gateway(public: int, metrics: int | None) -> lifecycle.Service:
    settings = GatewaySettings(gateway_port=public, metrics_port=metrics)
    return gateway_bootstrap.build(settings, task_service=FakeTaskService())


def websocket(public: int, metrics: int | None) -> lifecycle.Service:
    settings = WebSocketSettings(websocket_port=public, metrics_port=metrics)
    return websocket_bootstrap.build(settings, events=FakeProcessedEvents(lambda _: None))


SERVICES = {"gateway": gateway, "websocket": websocket}


async def answering(http: httpx.AsyncClient, url: str, seconds: float = 20) -> None:
    """Until something answers HTTP at `url` (a server binding cannot be awaited)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            await http.get(url)
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"nothing answers at {url}"
            await asyncio.sleep(0.05)


@asynccontextmanager
async def serving(service: lifecycle.Service, *ports: int) -> AsyncIterator[httpx.AsyncClient]:
    stop = asyncio.Event()
    running = asyncio.create_task(lifecycle.serve(service, stop))
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            for port in ports:
                await answering(http, f"http://127.0.0.1:{port}/health")
            yield http
    finally:
        stop.set()
        await running


@pytest.mark.parametrize("name", SERVICES)
async def test_with_a_metrics_port_metrics_leave_the_public_port(name: str) -> None:
    make: Callable[[int, int | None], lifecycle.Service] = SERVICES[name]
    public, metrics = free_port(), free_port()
    async with serving(make(public, metrics), public, metrics) as http:
        on_metrics_port = await http.get(f"http://127.0.0.1:{metrics}/metrics")
        assert on_metrics_port.status_code == 200
        assert "binconv_" in on_metrics_port.text
        assert (await http.get(f"http://127.0.0.1:{metrics}/health")).status_code == 200
        assert (await http.get(f"http://127.0.0.1:{public}/metrics")).status_code == 404
        # the probes' /health stays where it was
        assert (await http.get(f"http://127.0.0.1:{public}/health")).status_code == 200


@pytest.mark.parametrize("name", SERVICES)
async def test_without_one_metrics_stay_on_the_public_port(name: str) -> None:
    public = free_port()
    async with serving(SERVICES[name](public, None), public) as http:
        response = await http.get(f"http://127.0.0.1:{public}/metrics")
        assert response.status_code == 200
        assert "binconv_" in response.text
