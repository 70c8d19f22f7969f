"""Hostile WebSocket clients: clients have nothing to say; the server must not choke on
what they say, nor serve an origin it does not allow."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets
from websockets.typing import Origin

from binconv import reference
from tests.faults.hostile.checks import assert_still_converting
from tests.support.client import GraphQLClient
from tests.support.processes import ServiceProcesses

pytestmark = pytest.mark.faults

# uvicorn's default `ws_max_size`: a larger frame from a client is refused.
WS_MAX_FRAME_BYTES = 16 * 1024 * 1024


@pytest.fixture(scope="module")
def strict_websocket(stack: ServiceProcesses) -> str:
    name = stack.start(
        "websocket", instance="websocket-strict", ALLOWED_ORIGINS="http://allowed.example"
    )
    return f"ws://127.0.0.1:{stack.instance_ports[name].websocket}/ws"


async def next_result(connection: Any, task_id: str) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        while (frame := json.loads(await connection.recv()))["id"] != task_id:
            pass
        return frame  # type: ignore[no-any-return]

    return await asyncio.wait_for(read(), 30)


async def test_frames_from_a_client_are_ignored_and_results_keep_coming(
    stack: ServiceProcesses, http: httpx.AsyncClient
) -> None:
    graphql = GraphQLClient(stack.ports.graphql_url, http)
    async with websockets.connect(stack.ports.websocket_url, max_size=None) as connection:
        await connection.send("hello, server")
        await connection.send(json.dumps({"type": "subscribe", "id": "1"}))
        await connection.send(b"\x00\xff" * 512)
        await connection.send(b"x" * (1 << 20))
        [task] = await graphql.send_tasks(["after the noise"])

        frame = await next_result(connection, task["id"])

    assert frame["binaryCode"] == reference.encode("after the noise")
    await assert_still_converting(stack, http)


async def test_a_frame_over_the_size_limit_is_answered_with_close_1009(
    stack: ServiceProcesses, http: httpx.AsyncClient
) -> None:
    connection = await websockets.connect(stack.ports.websocket_url, max_size=None)
    try:
        # The server may close while the frame is still going out: send or recv raises.
        with pytest.raises(websockets.ConnectionClosedError) as closed:
            await connection.send(b"x" * (WS_MAX_FRAME_BYTES + 1))
            await connection.recv()
    finally:
        await connection.close()

    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    await assert_still_converting(stack, http)


async def test_a_disallowed_origin_is_refused(
    stack: ServiceProcesses, http: httpx.AsyncClient, strict_websocket: str
) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(strict_websocket, origin=Origin("http://evil.example")):
            pass

    assert refused.value.response.status_code == 403
    await assert_still_converting(stack, http, websocket=strict_websocket)


async def test_an_allowed_origin_is_accepted_and_gets_results(
    stack: ServiceProcesses, http: httpx.AsyncClient, strict_websocket: str
) -> None:
    graphql = GraphQLClient(stack.ports.graphql_url, http)
    origin = Origin("http://allowed.example")
    async with websockets.connect(strict_websocket, origin=origin) as connection:
        [task] = await graphql.send_tasks(["allowed"])

        frame = await next_result(connection, task["id"])

    assert frame["binaryCode"] == reference.encode("allowed")
