"""The WebSocket service with real RabbitMQ and real WebSocket clients."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import orjson
import pytest
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.typing import Origin

from devstack.infra import LocalRabbitMQ
from pyservices.websocket.metrics import DISCONNECTS
from tests.integration.websocket.websocket_harness import (
    Publisher,
    StartService,
    open_publisher,
    service_starter,
)

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
# The largest result: the binary code of a 64 KiB message, eight digits a byte.
LARGEST_BINARY_CODE = "01" * (256 * 1024)


@pytest.fixture
def start_service(rabbitmq_url: str) -> StartService:
    return service_starter(rabbitmq_url)


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


async def test_a_client_behind_on_large_results_is_dropped_by_its_byte_budget(
    start_service: StartService, publisher: Publisher
) -> None:
    dropped_before = DISCONNECTS.labels("too slow")._value.get()
    async with (
        start_service(websocket_client_buffer=1000, websocket_client_buffer_bytes=4 * MiB) as url,
        websockets.connect(url, max_queue=1, max_size=None) as stalled,
        websockets.connect(url, max_size=None) as reader,
    ):
        # In steps of 4 MiB the reader keeps up with, until the stalled client is gone:
        # at most 200 frames, far from the frame bound (1000), so only bytes can drop it.
        published = 0
        while DISCONNECTS.labels("too slow")._value.get() == dropped_before and published < 200:
            ids = await publisher.publish(8, binary_code=LARGEST_BINARY_CODE)
            frames = await receive(reader, 8)
            assert [f["id"] for f in frames] == ids
            assert all(f["binaryCode"] == LARGEST_BINARY_CODE for f in frames)
            published += 8

        assert DISCONNECTS.labels("too slow")._value.get() == dropped_before + 1
        ids = await publisher.publish(8, binary_code=LARGEST_BINARY_CODE)
        assert [f["id"] for f in await receive(reader, 8)] == ids

        received = 0
        with contextlib.suppress(websockets.ConnectionClosed):
            async with asyncio.timeout(30):
                async for _ in stalled:
                    received += 1
        assert received < published
        assert stalled.close_code in (4000, 1006)


async def test_its_queue_is_bounded_in_messages_and_in_bytes_dropping_the_oldest(
    start_service: StartService, rabbitmq_server: LocalRabbitMQ, rabbitmq_url: str
) -> None:
    vhost = rabbitmq_url.rsplit("/", 1)[1]
    async with start_service(websocket_queue_max_length=5000, websocket_queue_max_bytes=32 * MiB):
        listed = await asyncio.to_thread(
            rabbitmq_server.ctl,
            "list_queues",
            "-p",
            vhost,
            "--formatter",
            "json",
            "name",
            "arguments",
        )

    [queue] = [q for q in orjson.loads(listed) if ".websocket." in q["name"]]
    arguments = {name: value for name, _type, value in queue["arguments"]}
    assert arguments["x-max-length"] == 5000
    assert arguments["x-max-length-bytes"] == 32 * MiB
    assert arguments["x-overflow"] == "drop-head"


async def test_a_disallowed_origin_is_refused(
    start_service: StartService, publisher: Publisher
) -> None:
    async with start_service(allowed_origins="http://page.example") as url:
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(url, origin=Origin("http://evil.example"))
        assert refused.value.response.status_code == 403

        async with (
            websockets.connect(url, origin=Origin("http://page.example")) as browser,
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


async def test_events_published_while_the_service_reconnects_still_reach_its_clients(
    start_service: StartService,
    rabbitmq_server: LocalRabbitMQ,
    rabbitmq_url: str,
) -> None:
    vhost = rabbitmq_url.rsplit("/", 1)[1]
    async with (
        start_service(broker_reconnect_seconds=3) as url,
        websockets.connect(url) as client,
    ):
        await asyncio.to_thread(
            rabbitmq_server.ctl, "close_all_connections", "-p", vhost, "test: broker lost"
        )
        # Published while the service waits to reconnect: its queue (durable, unlike
        # an exclusive one that died with the connection) keeps them until it is back.
        async with open_publisher(rabbitmq_url) as publisher:
            ids = await publisher.publish(5)

        assert [frame["id"] for frame in await receive(client, 5, seconds=30)] == ids


async def test_a_stopped_service_deletes_its_queue(
    start_service: StartService, rabbitmq_server: LocalRabbitMQ, rabbitmq_url: str
) -> None:
    vhost = rabbitmq_url.rsplit("/", 1)[1]
    async with start_service():
        running = await asyncio.to_thread(rabbitmq_server.queue_depths, vhost)
    stopped = await asyncio.to_thread(rabbitmq_server.queue_depths, vhost)

    assert [name for name in running if ".websocket." in name] != []
    assert [name for name in stopped if ".websocket." in name] == []


async def test_stops_promptly_while_the_broker_is_gone(
    start_service: StartService, rabbitmq_server: LocalRabbitMQ, rabbitmq_url: str
) -> None:
    vhost = rabbitmq_url.rsplit("/", 1)[1]
    stopping = start_service()
    url = await stopping.__aenter__()
    # Its virtual host deleted, the connection closes and cannot come back.
    await asyncio.to_thread(rabbitmq_server.ctl, "delete_vhost", vhost)
    health = url.replace("ws://", "http://").removesuffix("/ws") + "/health"
    async with httpx.AsyncClient(timeout=1) as http, asyncio.timeout(20):
        while (await http.get(health)).status_code == 200:  # noqa: ASYNC110 (another process)
            await asyncio.sleep(0.05)

    await asyncio.wait_for(stopping.__aexit__(None, None, None), 15)
