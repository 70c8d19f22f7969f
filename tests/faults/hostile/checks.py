"""What the hostile-input cases share: a raw body sent, a refusal read, and afterwards
the check that the pipeline still converts."""

from __future__ import annotations

import json

import httpx

from binconv import reference
from tests.support.client import GraphQLClient, result_feed
from tests.support.processes import ServiceProcesses


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
