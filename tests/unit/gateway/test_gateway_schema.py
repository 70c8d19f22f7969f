"""The GraphQL schema executed against a fake task service."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry

from pyservices.gateway.adapters.graphql_app import SchemaLimits, build_schema
from pyservices.gateway.domain import (
    ALL_FIELDS,
    InvalidInput,
    TaskFields,
    TaskServiceUnavailable,
)
from tests.unit.gateway.gateway_fakes import FakeTaskService

FIELDS = "id message binaryCode createdAt updatedAt status"
SEND = f"mutation($m: [String!]!) {{ sendTask(messages: $m) {{ {FIELDS} }} }}"
TASKS = f"query($l: Int, $o: Int) {{ tasks(limit: $l, offset: $o) {{ {FIELDS} }} }}"
TASK = f"query($id: String!) {{ task(id: $id) {{ {FIELDS} }} }}"
IDS_ONLY = TaskFields(message=False, binary_code=False)


@pytest.fixture
def service() -> FakeTaskService:
    return FakeTaskService()


@pytest.fixture(scope="module")
def schema() -> strawberry.Schema:
    return build_schema(SchemaLimits())


async def execute(
    schema: strawberry.Schema, service: FakeTaskService, query: str, **variables: Any
) -> Any:
    return await schema.execute(query, variables, context_value={"task_service": service})


async def test_send_task_returns_the_stored_tasks_in_the_order_sent(
    schema: strawberry.Schema, service: FakeTaskService
) -> None:
    messages = ["hello", "  kept as sent  ", "é🦀"]
    result = await execute(schema, service, SEND, m=messages)

    assert result.errors is None
    sent = result.data["sendTask"]
    assert [task["message"] for task in sent] == messages
    assert all(task["binaryCode"] == "" and task["status"] == "PENDING" for task in sent)
    assert sent[0]["createdAt"] == "2026-11-24T07:00:00.123456+00:00"
    assert service.calls == [("send_tasks", messages)]


async def test_a_lone_surrogate_is_refused_by_index_before_anything_is_sent(
    schema: strawberry.Schema, service: FakeTaskService
) -> None:
    result = await execute(schema, service, SEND, m=["fine", "bad \ud800 text"])

    assert result.data is None
    [error] = result.errors
    assert "messages[1]" in error.message
    assert error.extensions == {"code": "BAD_USER_INPUT"}
    assert service.calls == []


async def test_the_task_services_refusal_reaches_the_client_as_bad_user_input(
    schema: strawberry.Schema, service: FakeTaskService
) -> None:
    result = await execute(schema, service, SEND, m=["fine", "   "])

    [error] = result.errors
    assert error.message == "messages[1]: message is empty or only whitespace"
    assert error.extensions == {"code": "BAD_USER_INPUT"}


async def test_an_unreachable_task_service_is_a_retryable_unavailable_error(
    schema: strawberry.Schema, service: FakeTaskService
) -> None:
    service.fail_with = TaskServiceUnavailable()

    result = await execute(schema, service, SEND, m=["hello"])

    [error] = result.errors
    assert error.message == "task service unavailable, retry"
    assert error.extensions == {"code": "UNAVAILABLE", "retryable": True}


async def test_an_unexpected_failure_is_masked(
    schema: strawberry.Schema, service: FakeTaskService
) -> None:
    service.fail_with = RuntimeError("connection string with a password in it")

    result = await execute(schema, service, TASKS)

    [error] = result.errors
    assert error.message == "Unexpected error."
    assert "password" not in str(result.errors)


async def test_tasks_are_listed_as_the_task_service_orders_them(
    schema: strawberry.Schema, service: FakeTaskService
) -> None:
    await execute(schema, service, SEND, m=["older", "newer"])

    result = await execute(schema, service, TASKS, l=10, o=0)

    assert [task["message"] for task in result.data["tasks"]] == ["newer", "older"]
    assert service.calls[-1] == ("list_tasks", (10, 0, ALL_FIELDS))


async def test_tasks_without_arguments_ask_for_the_default_page(
    schema: strawberry.Schema, service: FakeTaskService
) -> None:
    await execute(schema, service, "{ tasks { id } }")

    assert service.calls == [("list_tasks", (0, 0, IDS_ONLY))]


async def test_a_limit_of_zero_lists_nothing(
    schema: strawberry.Schema, service: FakeTaskService
) -> None:
    await execute(schema, service, SEND, m=["one"])

    result = await execute(schema, service, TASKS, l=0)

    assert result.data == {"tasks": []}


async def test_task_finds_one_task_by_id(
    schema: strawberry.Schema, service: FakeTaskService
) -> None:
    sent = await execute(schema, service, SEND, m=["hello"])
    task_id = sent.data["sendTask"][0]["id"]

    result = await execute(schema, service, TASK, id=task_id)

    assert result.data["task"]["message"] == "hello"


async def test_task_is_null_for_an_unknown_id(
    schema: strawberry.Schema, service: FakeTaskService
) -> None:
    result = await execute(schema, service, TASK, id="00000000-0000-0000-0000-000000000000")

    assert result.errors is None
    assert result.data == {"task": None}


async def test_task_with_an_id_that_is_not_a_uuid_is_bad_user_input(
    schema: strawberry.Schema, service: FakeTaskService
) -> None:
    result = await execute(schema, service, TASK, id="not-a-uuid")

    [error] = result.errors
    assert error.extensions == {"code": "BAD_USER_INPUT"}


async def test_the_schema_keeps_the_original_contract(schema: strawberry.Schema) -> None:
    sdl = schema.as_str()

    assert "sendTask(messages: [String!]!): [Task!]!" in sdl
    # The original's arguments, in its order; `after` (keyset pages) is added after them.
    assert "tasks(limit: Int = null, offset: Int = null, after: String = null): [Task!]!" in sdl
    assert "task(id: String!): Task" in sdl
    for field in ("id", "message", "binaryCode", "createdAt", "updatedAt"):
        assert f"  {field}: String!" in sdl
    assert "status: TaskStatus!" in sdl


class TestFieldSelection:
    @pytest.mark.parametrize(
        ("query", "fields"),
        [
            ("{ tasks { id } }", IDS_ONLY),
            ("{ tasks { id status createdAt updatedAt __typename } }", IDS_ONLY),
            ("{ tasks { id message } }", TaskFields(binary_code=False)),
            ("{ tasks { code: binaryCode } }", TaskFields(message=False)),
            ("{ tasks { ...F } } fragment F on Task { message }", TaskFields(binary_code=False)),
            (
                "{ tasks { ... on Task { binaryCode } ...F } } fragment F on Task { message }",
                ALL_FIELDS,
            ),
        ],
    )
    async def test_tasks_asks_only_for_the_large_fields_selected(
        self, schema: strawberry.Schema, service: FakeTaskService, query: str, fields: TaskFields
    ) -> None:
        result = await execute(schema, service, query)

        assert result.errors is None
        assert service.calls == [("list_tasks", (0, 0, fields))]

    async def test_a_list_of_ids_and_statuses_gets_them_without_messages_or_codes(
        self, schema: strawberry.Schema, service: FakeTaskService
    ) -> None:
        await execute(schema, service, SEND, m=["hello"])

        result = await execute(schema, service, "{ tasks { id status } }")

        [task] = result.data["tasks"]
        assert task["status"] == "PENDING" and task["id"] == service.tasks[0].id

    async def test_task_with_only_its_id_asks_for_no_large_field(
        self, schema: strawberry.Schema, service: FakeTaskService
    ) -> None:
        sent = await execute(schema, service, SEND, m=["hello"])
        task_id = sent.data["sendTask"][0]["id"]

        result = await execute(
            schema, service, "query($id: String!) { task(id: $id) { id } }", id=task_id
        )

        assert result.data == {"task": {"id": task_id}}
        assert service.calls[-1] == ("get_task", (task_id, IDS_ONLY))

    async def test_a_page_over_the_byte_budget_reaches_the_client_as_bad_user_input(
        self, schema: strawberry.Schema, service: FakeTaskService
    ) -> None:
        reason = (
            "this page holds 41.2 MiB of messages and binary codes, over the limit of 16 MiB: "
            "ask for at most 31 tasks (limit: 31) and page with offset, or select fewer fields"
        )
        service.fail_with = InvalidInput(reason)

        result = await execute(schema, service, TASKS, l=100)

        [error] = result.errors
        assert (error.message, error.extensions) == (reason, {"code": "BAD_USER_INPUT"})


class TestOneSendTaskPerRequest:
    @pytest.mark.parametrize(
        "document",
        [
            "mutation($m: [String!]!) { a: sendTask(messages: $m) { id } "
            "b: sendTask(messages: $m) { id } }",
            "mutation($m: [String!]!) { ...S sendTask(messages: $m) { id } }"
            " fragment S on Mutation { s: sendTask(messages: $m) { id } }",
            "mutation($m: [String!]!) { ... { a: sendTask(messages: $m) { id } } "
            "b: sendTask(messages: $m) @skip(if: true) { id } }",
        ],
    )
    async def test_more_than_one_send_task_field_is_refused_whole(
        self, schema: strawberry.Schema, service: FakeTaskService, document: str
    ) -> None:
        result = await execute(schema, service, document, m=["hello"])

        assert result.data is None
        [error] = result.errors
        assert error.message == (
            "a request may hold one sendTask field, this one holds 2: send all the messages "
            "in one sendTask(messages: [...]) (the limit on messages applies to the whole "
            "request)"
        )
        assert service.calls == []

    async def test_fifteen_aliased_send_task_fields_store_nothing(
        self, schema: strawberry.Schema, service: FakeTaskService
    ) -> None:
        fields = " ".join(f"a{i}: sendTask(messages: $m) {{ id }}" for i in range(15))

        result = await execute(schema, service, f"mutation($m: [String!]!) {{ {fields} }}", m=["x"])

        assert "this one holds 15" in result.errors[0].message
        assert service.calls == [] and service.tasks == []

    async def test_each_operation_of_a_document_may_hold_one(
        self, schema: strawberry.Schema, service: FakeTaskService
    ) -> None:
        document = (
            "mutation A($m: [String!]!) { sendTask(messages: $m) { id } } "
            "mutation B($m: [String!]!) { sendTask(messages: $m) { message } }"
        )

        result = await schema.execute(
            document, {"m": ["hi"]}, context_value={"task_service": service}, operation_name="B"
        )

        assert result.errors is None
        assert result.data == {"sendTask": [{"message": "hi"}]}
