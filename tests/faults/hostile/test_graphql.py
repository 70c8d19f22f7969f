"""Hostile GraphQL: queries over the gateway's limits, arguments of the wrong type, and
introspection."""

from __future__ import annotations

import httpx
import pytest

from tests.faults.hostile.checks import assert_still_converting, post, refusal
from tests.support.client import SEND_TASK, GraphQLClient
from tests.support.processes import ServiceProcesses

pytestmark = pytest.mark.faults


@pytest.fixture(scope="module")
def closed_gateway(stack: ServiceProcesses) -> str:
    name = stack.start("gateway", instance="gateway-closed", GRAPHQL_INTROSPECTION="false")
    return f"http://127.0.0.1:{stack.instance_ports[name].gateway}/query"


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        # The schema is flat (Task has only scalars), so only a selection under a scalar
        # nests this deep; the limiter still has to name its limit, not the invalid field.
        (
            "{ tasks { id " + "{ f " * 12 + "}" * 12 + " } }",
            "exceeds maximum operation depth of 10",
        ),
        (
            "{ " + " ".join(f"a{i}: tasks(limit: 1) {{ id }}" for i in range(16)) + " }",
            "16 aliases found. Allowed: 15",
        ),
        ("{ tasks { " + " id" * 2600 + " } }", "more than 2500 tokens"),
    ],
    ids=["nested-too-deep", "too-many-aliases", "over-the-token-limit"],
)
async def test_a_query_over_a_limit_is_refused_naming_it(
    stack: ServiceProcesses, http: httpx.AsyncClient, query: str, reason: str
) -> None:
    response = await post(http, stack.ports.graphql_url, {"query": query})

    assert reason in refusal(response)
    await assert_still_converting(stack, http)


async def test_hundreds_of_repeated_fields_are_refused_with_a_reason(
    stack: ServiceProcesses, http: httpx.AsyncClient
) -> None:
    repeated = "{ tasks(limit: 1) { " + " id" * 1000 + " } }"

    response = await post(http, stack.ports.graphql_url, {"query": repeated})

    first, *_ = refusal(response).splitlines()
    assert first == "the query selects 1001 fields; at most 200 are allowed"


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

    wrong = {"query": SEND_TASK, "variables": variables}
    response = await post(http, stack.ports.graphql_url, wrong)

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
