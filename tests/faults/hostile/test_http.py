"""Hostile HTTP at the gateway: bodies over the limit, malformed or not UTF-8, and other
methods and content types than a JSON POST."""

from __future__ import annotations

import httpx
import pytest

from tests.faults.hostile.checks import assert_still_converting, post
from tests.support.client import SEND_TASK
from tests.support.processes import ServiceProcesses

pytestmark = pytest.mark.faults


@pytest.fixture(scope="module")
def small_body_gateway(stack: ServiceProcesses) -> str:
    name = stack.start("gateway", instance="gateway-small", MAX_BODY_BYTES="4096")
    return f"http://127.0.0.1:{stack.instance_ports[name].gateway}/query"


async def test_a_body_over_the_limit_gets_413(
    stack: ServiceProcesses, http: httpx.AsyncClient, small_body_gateway: str
) -> None:
    oversized = {"query": SEND_TASK, "variables": {"m": ["x" * 5000]}}

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
