"""The WebSocket service with real RabbitMQ and real WebSocket clients."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiormq
import httpx
import orjson
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from pyservices.devstack.infra import LocalRabbitMQ
from pyservices.websocket.metrics import DISCONNECTS
from tests.integration.websocket.websocket_harness import (
    Publisher,
    StartService,
    open_publisher,
    service_starter,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def start_service(rabbitmq_url: str) -> StartService:
    return service_starter(rabbitmq_url)


@pytest.fixture
async def publisher(rabbitmq_url: str) -> AsyncIterator[Publisher]:
    async with open_publisher(rabbitmq_url) as opened:
        yield opened


async def receive(
    client: ClientConnection, count: int, seconds: float = 20
) -> list[dict[str, Any]]:
    async def take() -> list[dict[str, Any]]:
        return [orjson.loads(await client.recv()) for _ in range(count)]

    return await asyncio.wait_for(take(), seconds)


async def test_every_client_gets_every_event(
    start_service: StartService, publisher: Publisher
) -> None:
    async with (
        start_service() as url,
        websockets.connect(url) as a,
        websockets.connect(url) as b,
        websockets.connect(url) as c,
    ):
        ids = await publisher.publish(50)

        for client in (a, b, c):
            frames = await receive(client, 50)
            assert [frame["id"] for frame in frames] == ids
            assert all(frame["binaryCode"] == "01000001" for frame in frames)


async def test_two_instances_each_deliver_every_event_to_their_clients(
    start_service: StartService, publisher: Publisher
) -> None:
    async with (
        start_service() as first,
        start_service() as second,
        websockets.connect(first) as a,
        websockets.connect(second) as b,
    ):
        ids = await publisher.publish(40)

        assert [f["id"] for f in await receive(a, 40)] == ids
        assert [f["id"] for f in await receive(b, 40)] == ids


async def test_a_client_that_never_reads_blocks_no_one_and_is_disconnected(
    start_service: StartService, publisher: Publisher
) -> None:
    dropped_before = DISCONNECTS.labels("too slow")._value.get()
    big = "01" * 50_000  # 100 KB frames fill the socket buffers quickly
    async with (
        start_service(websocket_client_buffer=16) as url,
        # max_queue=1: the client library itself stops reading from the socket.
        websockets.connect(url, max_queue=1, max_size=None) as stalled,
        websockets.connect(url, max_size=None) as reader,
    ):
        # In steps the reader keeps up with, so only the stalled client falls behind.
        for _ in range(30):
            ids = await publisher.publish(10, binary_code=big)
            assert [f["id"] for f in await receive(reader, 10)] == ids

        assert DISCONNECTS.labels("too slow")._value.get() == dropped_before + 1

        received = 0
        with contextlib.suppress(websockets.ConnectionClosed):
            async with asyncio.timeout(30):
                async for _ in stalled:
                    received += 1
        assert received < 300
        assert stalled.close_code in (4000, 1006)


async def test_a_disallowed_origin_is_refused(
    start_service: StartService, publisher: Publisher
) -> None:
    async with start_service(allowed_origins="http://page.example") as url:
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(url, origin="http://evil.example")
        assert refused.value.response.status_code == 403

        async with (
            websockets.connect(url, origin="http://page.example") as browser,
            websockets.connect(url) as no_origin,
        ):
            [task_id] = await publisher.publish(1)
            assert (await receive(browser, 1))[0]["id"] == task_id
            assert (await receive(no_origin, 1))[0]["id"] == task_id


async def test_health_and_metrics(start_service: StartService) -> None:
    async with start_service() as url, websockets.connect(url):
        base = url.replace("ws://", "http://").removesuffix("/ws")
        async with httpx.AsyncClient() as http:
            health = await http.get(f"{base}/health")
            metrics = (await http.get(f"{base}/metrics")).text

    assert health.json() == {"status": "ok", "checks": {"broker": "ok"}}
    assert "binconv_websocket_clients" in metrics
    assert "binconv_end_to_end_seconds_bucket" in metrics


async def test_the_service_consumes_again_after_losing_the_broker_connection(
    start_service: StartService,
    publisher: Publisher,
    rabbitmq_server: LocalRabbitMQ,
    rabbitmq_url: str,
) -> None:
    vhost = rabbitmq_url.rsplit("/", 1)[1]
    async with start_service() as url, websockets.connect(url) as client:
        await asyncio.to_thread(
            rabbitmq_server.ctl, "close_all_connections", "-p", vhost, "test: broker lost"
        )

        # Events published before the queue is declared and bound again are lost to
        # this instance (a fanout keeps nothing for absent queues): publish until one
        # arrives.
        async def delivered_again() -> str:
            while True:
                try:
                    await publisher.publish(1)
                except (aiormq.exceptions.AMQPError, RuntimeError):  # its own reconnect
                    await asyncio.sleep(0.2)
                    continue
                with contextlib.suppress(TimeoutError):
                    frame = await receive(client, 1, seconds=0.5)
                    return str(frame[0]["id"])

        assert await asyncio.wait_for(delivered_again(), 30)
