"""Parse and validation run once per query text; the verdict stays that of the rules."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry
import strawberry.schema.schema as strawberry_schema
from graphql import validate

from pyservices.gateway.adapters.graphql_app import SchemaLimits, build_schema
from tests.unit.gateway.gateway_fakes import FakeTaskService

SEND = "mutation($m: [String!]!) { sendTask(messages: $m) { id binaryCode } }"
TWO_SENDS = 'mutation { a: sendTask(messages: ["x"]) { id } b: sendTask(messages: ["y"]) { id } }'
DEEP = "{ tasks { id } __schema { types { name } } }"


async def execute(schema: strawberry.Schema, query: str, **variables: Any) -> Any:
    return await schema.execute(query, variables, context_value={"task_service": FakeTaskService()})


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The documents graphql-core validates, counted where strawberry calls it."""
    seen: list[str] = []

    def counting(schema: Any, document: Any, rules: Any) -> Any:
        seen.append(document.loc.source.body)
        return validate(schema, document, rules)

    monkeypatch.setattr(strawberry_schema, "validate", counting)
    return seen


async def test_a_repeated_query_text_is_validated_once(validations: list[str]) -> None:
    schema = build_schema(SchemaLimits())
    for message in ("a", "b", "c"):
        result = await execute(schema, SEND, m=[message])
        assert result.errors is None
    assert validations == [SEND]


async def test_a_refused_text_is_refused_again_with_the_same_errors(
    validations: list[str],
) -> None:
    schema = build_schema(SchemaLimits())
    first = await execute(schema, TWO_SENDS)
    second = await execute(schema, TWO_SENDS)
    assert first.errors is not None and second.errors is not None
    assert [e.formatted for e in first.errors] == [e.formatted for e in second.errors]
    assert "one sendTask field" in first.errors[0].message
    assert validations == [TWO_SENDS]


async def test_schemas_with_other_limits_keep_their_own_verdicts() -> None:
    strict = build_schema(SchemaLimits(introspection=False))
    open_ = build_schema(SchemaLimits())
    assert (await execute(open_, DEEP)).errors is None
    refused = await execute(strict, DEEP)
    assert refused.errors is not None
    messages = [error.message for error in refused.errors]
    assert any("introspection has been disabled" in message for message in messages)
    assert (await execute(open_, DEEP)).errors is None


async def test_a_text_over_the_token_limit_is_refused_every_time() -> None:
    schema = build_schema(SchemaLimits(max_tokens=20))
    text = "{ " + " ".join(["tasks { id }"] * 10) + " }"
    for _ in range(2):
        result = await execute(schema, text)
        assert result.errors is not None
        assert "more than 20 tokens" in result.errors[0].message
