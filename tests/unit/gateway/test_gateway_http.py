"""The gateway's HTTP surface: bad requests become clear errors, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from pyservices.gateway.adapters.graphql_app import SchemaLimits
from pyservices.gateway.adapters.http import create_app
from tests.support.client import send_task_mutation
from tests.unit.gateway.gateway_fakes import FakeTaskService

SEND = send_task_mutation("id message")


class Health:
    def __init__(self) -> None:
        self.reachable = True

    async def check(self) -> bool:
        return self.reachable


@pytest.fixture
def health() -> Health:
    return Health()


@pytest.fixture
async def client(health: Health) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        FakeTaskService(),
        {"task_service": health.check},
        max_body_bytes=4096,
        cors_origins=["http://page.example"],
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as http:
        yield http


async def post(client: httpx.AsyncClient, query: str, **variables: object) -> httpx.Response:
    return await client.post("/query", json={"query": query, "variables": variables})


async def test_send_task_over_http(client: httpx.AsyncClient) -> None:
    response = await post(client, SEND, m=["a", "b"])

    assert response.status_code == 200
    assert [t["message"] for t in response.json()["data"]["sendTask"]] == ["a", "b"]


@pytest.mark.parametrize("body", [b"{not json", b'{"query": "{ tasks { id } }\xff"}'])
async def test_a_body_that_is_not_json_is_a_400_with_a_graphql_error(
    client: httpx.AsyncClient, body: bytes
) -> None:
    response = await client.post(
        "/query", content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "Unable to parse request body as JSON"


async def test_a_get_without_a_query_is_a_404_with_a_graphql_error(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/query")

    assert response.status_code == 404
    assert response.json()["errors"][0]["extensions"] == {"code": "NOT_FOUND"}


async def test_a_body_without_a_query_is_a_400_with_a_graphql_error(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/query", json={"variables": {}})

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"] == {"code": "BAD_REQUEST"}


async def test_a_variable_of_the_wrong_type_is_a_graphql_error(client: httpx.AsyncClient) -> None:
    response = await post(client, SEND, m=[1, {"x": 2}])

    assert response.status_code < 500
    [error, *_] = response.json()["errors"]
    assert "$m" in error["message"]


async def test_a_query_with_a_syntax_error_is_a_graphql_error(client: httpx.AsyncClient) -> None:
    response = await post(client, "{ tasks { id ")

    assert response.status_code < 500
    assert "Syntax Error" in response.json()["errors"][0]["message"]


async def test_a_query_too_deep_is_refused(client: httpx.AsyncClient) -> None:
    deep = "{ tasks " + "{ id " * 12 + "}" * 12 + " }"

    response = await post(client, deep)

    assert response.status_code < 500
    messages = [error["message"] for error in response.json()["errors"]]
    assert any("exceeds maximum operation depth" in message for message in messages)


async def test_too_many_aliases_are_refused(client: httpx.AsyncClient) -> None:
    aliases = " ".join(f"a{i}: tasks {{ id }}" for i in range(16))

    response = await post(client, "{ " + aliases + " }")

    assert response.status_code < 500
    [error] = response.json()["errors"]
    assert "aliases" in error["message"]


async def test_too_many_fields_are_refused_with_the_count_and_the_limit(
    client: httpx.AsyncClient,
) -> None:
    response = await post(client, "{ tasks { " + " id" * 800 + " } }")

    assert response.status_code < 500
    assert response.json()["errors"][0]["message"] == (
        "the query selects 801 fields; at most 200 are allowed"
    )


async def test_too_many_tokens_are_refused() -> None:
    app = create_app(FakeTaskService(), {}, limits=SchemaLimits(max_tokens=50))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        response = await post(http, "{ " + "tasks { id } " * 20 + "}")

    assert response.status_code < 500
    assert "tokens" in response.json()["errors"][0]["message"]


async def test_a_thousand_messages_written_inline_fit_the_token_limit() -> None:
    app = create_app(FakeTaskService(), {})
    inline = ", ".join(f'"m{i}"' for i in range(1000))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        response = await post(http, f"mutation {{ sendTask(messages: [{inline}]) {{ id }} }}")

    assert len(response.json()["data"]["sendTask"]) == 1000


async def test_a_batch_of_operations_is_refused_whole() -> None:
    service = FakeTaskService()
    app = create_app(service, {})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        one = {"query": SEND, "variables": {"m": ["a"]}}
        response = await http.post("/query", json=[one, one])

    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "Batching is not enabled"
    assert service.calls == []


async def test_introspection_can_be_disabled() -> None:
    app = create_app(FakeTaskService(), {}, limits=SchemaLimits(introspection=False))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        response = await post(http, "{ __schema { types { name } } }")

    assert "introspection" in response.json()["errors"][0]["message"].lower()


async def test_a_body_over_the_limit_is_a_413(client: httpx.AsyncClient) -> None:
    response = await post(client, SEND, m=["x" * 5000])

    assert response.status_code == 413


async def test_get_on_query_runs_nothing(client: httpx.AsyncClient) -> None:
    response = await client.get("/query", params={"query": "{ tasks { id } }"})

    assert response.status_code != 200


async def test_health_follows_the_task_service(client: httpx.AsyncClient, health: Health) -> None:
    assert (await client.get("/health")).status_code == 200

    health.reachable = False

    response = await client.get("/health")
    assert response.status_code == 503
    assert response.json()["checks"] == {"task_service": "down"}


async def test_metrics_count_operations_by_outcome(client: httpx.AsyncClient) -> None:
    await post(client, SEND, m=["hello"])
    await post(client, SEND, m=["   "])

    text = (await client.get("/metrics")).text

    assert 'binconv_graphql_requests_total{operation="sendTask",outcome="ok"}' in text
    assert 'binconv_graphql_requests_total{operation="sendTask",outcome="bad_user_input"}' in text
    assert "binconv_tasks_accepted_total" in text
    assert 'binconv_graphql_request_seconds_bucket{le="0.005",operation="sendTask"}' in text


async def test_the_page_is_served_at_the_root(client: httpx.AsyncClient) -> None:
    response = await client.get("/")

    assert response.status_code == 200
    assert "<html" in response.text


async def test_cors_lets_the_configured_origin_call_the_api(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/query",
        headers={
            "origin": "http://page.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        },
    )

    assert response.headers["access-control-allow-origin"] == "http://page.example"
