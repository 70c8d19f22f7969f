"""`tasks(after:)` and `Task.cursor` through the GraphQL schema, on the fake task service."""

from __future__ import annotations

from typing import Any

import strawberry

from pyservices.gateway.adapters.graphql_app import SchemaLimits, build_schema
from tests.unit.gateway.gateway_fakes import FakeTaskService

PAGE = "query($l: Int, $a: String) { tasks(limit: $l, after: $a) { message cursor } }"
BOTH = "query($a: String) { tasks(offset: 1, after: $a) { id } }"


async def execute(service: FakeTaskService, query: str, **variables: Any) -> Any:
    schema: strawberry.Schema = build_schema(SchemaLimits())
    return await schema.execute(query, variables, context_value={"task_service": service})


async def test_pages_follow_the_last_tasks_cursor_to_the_end() -> None:
    service = FakeTaskService()
    await service.send_tasks(["a", "b", "c"])
    await service.send_tasks(["d", "e"])

    seen: list[str] = []
    after = None
    for _ in range(4):
        result = await execute(service, PAGE, l=2, a=after)
        assert result.errors is None
        page = result.data["tasks"]
        seen += [task["message"] for task in page]
        after = page[-1]["cursor"] if page else after

    assert seen == list("edcba")


async def test_after_and_offset_together_or_a_bad_cursor_are_bad_user_input() -> None:
    service = FakeTaskService()
    [task] = await service.send_tasks(["a"])

    cases = ((BOTH, {"a": task.cursor}), (PAGE, {"l": 1, "a": "nope"}), (PAGE, {"a": "\ud800"}))
    for query, variables in cases:
        result = await execute(service, query, **variables)
        [error] = result.errors
        assert error.extensions == {"code": "BAD_USER_INPUT"}
