"""Hostile input against the running five-process stack.

Every case sends one kind of abuse to one service, checks that it is refused with a
clear error (or ignored, for WebSocket frames), and then that the whole pipeline is
still up: every service healthy and a normal sendTask converted end to end.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import httpx
import pytest
import websockets
from websockets.typing import Origin

from binconv import reference
from pyservices.common.proto import task_pb2, task_pb2_grpc
from pyservices.task_service.settings import TaskServiceSettings
from tests.support.client import GraphQLClient, result_feed
from tests.support.processes import ServiceProcesses

pytestmark = pytest.mark.faults

SEND = "mutation($m: [String!]!) { sendTask(messages: $m) { id message } }"
# uvicorn's default `ws_max_size`: a larger frame from a client is refused.
WS_MAX_FRAME_BYTES = 16 * 1024 * 1024
GRPC_MAX_MESSAGE_BYTES: int = TaskServiceSettings.model_fields["grpc_max_message_bytes"].default


@pytest.fixture(scope="module")
def small_body_gateway(stack: ServiceProcesses) -> str:
    name = stack.start("gateway", instance="gateway-small", MAX_BODY_BYTES="4096")
    return f"http://127.0.0.1:{stack.instance_ports[name].gateway}/query"


@pytest.fixture(scope="module")
def closed_gateway(stack: ServiceProcesses) -> str:
    name = stack.start("gateway", instance="gateway-closed", GRAPHQL_INTROSPECTION="false")
    return f"http://127.0.0.1:{stack.instance_ports[name].gateway}/query"


@pytest.fixture(scope="module")
def strict_websocket(stack: ServiceProcesses) -> str:
    name = stack.start(
        "websocket", instance="websocket-strict", ALLOWED_ORIGINS="http://allowed.example"
    )
    return f"ws://127.0.0.1:{stack.instance_ports[name].websocket}/ws"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


@pytest.fixture
async def task_service(stack: ServiceProcesses) -> AsyncIterator[Any]:
    options = [("grpc.max_send_message_length", -1)]
    address = f"127.0.0.1:{stack.ports.task_service}"
    async with grpc.aio.insecure_channel(address, options=options) as channel:
        yield task_pb2_grpc.TaskServiceStub(channel)  # type: ignore[no-untyped-call]


async def assert_still_converting(
    stack: ServiceProcesses, http: httpx.AsyncClient, gateway: str = "", websocket: str = ""
) -> None:
    """Every process alive and healthy; a sendTask through `gateway` arrives converted
    on `websocket` (the stack's own by default)."""
    assert all(process.poll() is None for process in stack.running.values())
    for name in stack.running:
        url = stack.instance_ports[name].health_url(name.split("-")[0])
        assert (await http.get(url)).status_code == 200, name
    graphql = GraphQLClient(gateway or stack.ports.graphql_url, http)
    async with result_feed(websocket or stack.ports.websocket_url) as feed:
        [task] = await graphql.send_tasks(["still converting é🦀"])
        frames = await feed.wait_for({task["id"]}, seconds=30)
    assert frames[task["id"]]["binaryCode"] == reference.encode("still converting é🦀")


async def post(http: httpx.AsyncClient, url: str, body: object) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await http.post(url, content=content, headers={"content-type": "application/json"})


def refusal(response: httpx.Response) -> str:
    """The GraphQL error messages of a refused request (never a server error, no data)."""
    assert response.status_code < 500, response.text
    body = response.json()
    assert body.get("data") is None, body
    message = body["errors"][0]["message"]
    assert isinstance(message, str) and message
    return "\n".join(error["message"] for error in body["errors"])


# GraphQL: the gateway's limits.


async def test_a_query_nested_too_deep_is_refused(
    stack: ServiceProcesses, http: httpx.AsyncClient
) -> None:
    # The schema is flat (Task has only scalars), so only a selection under a scalar nests
    # this deep; the limiter still has to name its limit, not just the invalid field.
    deep = "{ tasks { id " + "{ f " * 12 + "}" * 12 + " } }"

    response = await post(http, stack.ports.graphql_url, {"query": deep})

    assert "exceeds maximum operation depth of 10" in refusal(response)
    await assert_still_converting(stack, http)


async def test_too_many_aliases_are_refused(
    stack: ServiceProcesses, http: httpx.AsyncClient
) -> None:
    aliased = "{ " + " ".join(f"a{i}: tasks(limit: 1) {{ id }}" for i in range(16)) + " }"

    response = await post(http, stack.ports.graphql_url, {"query": aliased})

    assert "16 aliases found. Allowed: 15" in refusal(response)
    await assert_still_converting(stack, http)


async def test_a_document_over_the_token_limit_is_refused(
    stack: ServiceProcesses, http: httpx.AsyncClient
) -> None:
    many_fields = "{ tasks { " + " id" * 2600 + " } }"

    response = await post(http, stack.ports.graphql_url, {"query": many_fields})

    assert "more than 2500 tokens" in refusal(response)
    await assert_still_converting(stack, http)


async def test_hundreds_of_repeated_fields_are_refused_with_a_reason(
    stack: ServiceProcesses, http: httpx.AsyncClient
) -> None:
    repeated = "{ tasks(limit: 1) { " + " id" * 1000 + " } }"

    response = await post(http, stack.ports.graphql_url, {"query": repeated})

    first, *_ = refusal(response).splitlines()
    assert first == "the query selects 1001 fields; at most 200 are allowed"


async def test_a_body_over_the_limit_gets_413(
    stack: ServiceProcesses, http: httpx.AsyncClient, small_body_gateway: str
) -> None:
    oversized = {"query": SEND, "variables": {"m": ["x" * 5000]}}

    response = await post(http, small_body_gateway, oversized)

    assert response.status_code == 413
    await assert_still_converting(stack, http, gateway=small_body_gateway)


async def test_malformed_json_gets_400(stack: ServiceProcesses, http: httpx.AsyncClient) -> None:
    response = await post(http, stack.ports.graphql_url, b'{"query": "{ tasks { id } }"')

    assert response.status_code == 400
    await assert_still_converting(stack, http)


async def test_malformed_json_gets_a_graphql_shaped_error(
    stack: ServiceProcesses, http: httpx.AsyncClient
) -> None:
    response = await post(http, stack.ports.graphql_url, b"{not json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["message"]


async def test_a_body_that_is_not_utf8_is_a_client_error(
    stack: ServiceProcesses, http: httpx.AsyncClient
) -> None:
    response = await post(http, stack.ports.graphql_url, b'{"query": "{ tasks { id } }\xff"}')

    assert 400 <= response.status_code < 500


@pytest.mark.parametrize(
    "variables",
    [
        {"m": 5},
        {"m": [1, 2]},
        {"m": None},
        {"m": {"messages": ["a"]}},
        {"m": True},
        {"m": [None]},
        {"m": [["nested"]]},
        {},
    ],
    ids=["int", "list-of-ints", "null", "object", "bool", "list-of-null", "nested-list", "absent"],
)
async def test_a_variable_of_the_wrong_type_is_refused_naming_it(
    stack: ServiceProcesses, http: httpx.AsyncClient, variables: dict[str, object]
) -> None:
    graphql = GraphQLClient(stack.ports.graphql_url, http)
    newest_before = await graphql.tasks(limit=1)

    response = await post(http, stack.ports.graphql_url, {"query": SEND, "variables": variables})

    assert "Variable '$m' has invalid value" in refusal(response)
    assert await graphql.tasks(limit=1) == newest_before
    await assert_still_converting(stack, http)


async def test_an_inline_argument_of_the_wrong_type_is_refused(
    stack: ServiceProcesses, http: httpx.AsyncClient
) -> None:
    response = await post(
        http, stack.ports.graphql_url, {"query": "mutation { sendTask(messages: 5) { id } }"}
    )

    assert "String cannot represent a non string value: 5" in refusal(response)
    await assert_still_converting(stack, http)


INTROSPECTION = {"query": "{ __schema { mutationType { fields { name } } } }"}


async def test_introspection_is_served_by_default(
    stack: ServiceProcesses, http: httpx.AsyncClient
) -> None:
    response = await post(http, stack.ports.graphql_url, INTROSPECTION)

    fields = response.json()["data"]["__schema"]["mutationType"]["fields"]
    assert {"name": "sendTask"} in fields


async def test_introspection_is_refused_when_disabled(
    stack: ServiceProcesses, http: httpx.AsyncClient, closed_gateway: str
) -> None:
    response = await post(http, closed_gateway, INTROSPECTION)

    assert "introspection has been disabled" in refusal(response)
    await assert_still_converting(stack, http, gateway=closed_gateway)


@pytest.mark.parametrize(
    ("method", "content_type", "body", "status"),
    [
        ("GET", "", b"", 400),  # queries over GET are switched off
        ("PUT", "application/json", b'{"query": "{ tasks { id } }"}', 405),
        ("POST", "text/plain", b'{"query": "{ tasks { id } }"}', 400),
        ("POST", "application/graphql", b"{ tasks { id } }", 400),
        ("POST", "application/x-www-form-urlencoded", b"query=%7Btasks%7Bid%7D%7D", 400),
        ("POST", "multipart/form-data; boundary=x", b"--x--\r\n", 400),
        ("POST", "application/json", b'[{"query": "{ tasks { id } }"}]', 400),  # batch
        ("POST", "application/json", b"{}", 400),
        ("POST", "application/json", b'{"query": 5}', 400),
    ],
    ids=["get", "put", "text", "graphql", "form", "multipart", "batch", "no-query", "int-query"],
)
async def test_other_methods_and_content_types_are_client_errors(
    stack: ServiceProcesses,
    http: httpx.AsyncClient,
    method: str,
    content_type: str,
    body: bytes,
    status: int,
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    url = stack.ports.graphql_url + ("?query=%7Btasks%7Bid%7D%7D" if method == "GET" else "")

    response = await http.request(method, url, content=body, headers=headers)

    assert (response.status_code, bool(response.text)) == (status, True)
    await assert_still_converting(stack, http)


# WebSocket: clients have nothing to say; the server must not choke on what they say.


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


# gRPC: the task service's own refusals.


async def chunks(*chunks: list[str]) -> AsyncIterator[task_pb2.TaskMessages]:
    for messages in chunks:
        yield task_pb2.TaskMessages(messages=messages)


GrpcCall = Callable[[Any], Awaitable[Any]]
INVALID_CALLS: dict[str, GrpcCall] = {
    "id-missing": lambda s: s.GetTaskByID(task_pb2.GetTaskByIDRequest(), timeout=10),
    "id-not-uuid": lambda s: s.GetTaskByID(task_pb2.GetTaskByIDRequest(id="x' OR 1=1"), timeout=10),
    "limit-negative": lambda s: s.GetTasks(task_pb2.GetTasksRequest(limit=-1), timeout=10),
    "limit-huge": lambda s: s.GetTasks(task_pb2.GetTasksRequest(limit=2**31 - 1), timeout=10),
    "offset-negative": lambda s: s.GetTasks(task_pb2.GetTasksRequest(offset=-1), timeout=10),
    "no-chunks": lambda s: s.ReceiveTaskToProcess(chunks(), timeout=10),
    "empty-chunk": lambda s: s.ReceiveTaskToProcess(chunks([]), timeout=10),
    "blank-message": lambda s: s.ReceiveTaskToProcess(chunks(["ok"], [" \t"]), timeout=10),
    "nul-message": lambda s: s.ReceiveTaskToProcess(chunks(["a\x00b"]), timeout=10),
}


@pytest.mark.parametrize("call", INVALID_CALLS.values(), ids=INVALID_CALLS.keys())
async def test_an_invalid_grpc_request_gets_invalid_argument(
    stack: ServiceProcesses, http: httpx.AsyncClient, task_service: Any, call: GrpcCall
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call(task_service)

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details()
    await assert_still_converting(stack, http)


async def test_an_oversized_grpc_message_gets_resource_exhausted(
    stack: ServiceProcesses, http: httpx.AsyncClient, task_service: Any
) -> None:
    huge = "x" * (GRPC_MAX_MESSAGE_BYTES + 1)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await task_service.ReceiveTaskToProcess(chunks([huge]), timeout=60)

    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    await assert_still_converting(stack, http)


async def test_a_corrupt_protobuf_payload_is_refused(
    stack: ServiceProcesses, http: httpx.AsyncClient
) -> None:
    address = f"127.0.0.1:{stack.ports.task_service}"
    async with grpc.aio.insecure_channel(address) as channel:
        raw = channel.unary_unary("/binconv.task.v1.TaskService/GetTaskByID")
        # Field 1 (id) as a string of bytes that are not UTF-8, then a truncated field.
        for payload in (b"\x0a\x02\xff\xfe", b"\x0a\x10abc"):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await raw(payload, timeout=10)
            # grpcio answers a request it cannot parse with UNKNOWN, not INVALID_ARGUMENT.
            assert refused.value.code() in {
                grpc.StatusCode.UNKNOWN,
                grpc.StatusCode.INVALID_ARGUMENT,
            }

    await assert_still_converting(stack, http)
