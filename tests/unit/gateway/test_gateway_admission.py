"""Request bodies within the gateway's byte budget; short ones never held up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from pyservices.common.admission import BodyBudget
from pyservices.gateway.adapters import admission
from pyservices.gateway.adapters.http import create_app
from tests.support.client import send_task_mutation
from tests.unit.gateway.gateway_fakes import FakeTaskService

SEND = send_task_mutation("id")


@pytest.fixture
def gate() -> BodyBudget:
    return BodyBudget(capacity_bytes=1000, large_bytes=200)


@pytest.fixture
async def client(gate: BodyBudget) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        FakeTaskService(),
        {},
        body_budget=gate,
        large_request_wait_seconds=0.05,
        max_body_bytes=4096,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway"
    ) as http:
        yield http


async def send(client: httpx.AsyncClient, *messages: str) -> httpx.Response:
    return await client.post("/query", json={"query": SEND, "variables": {"m": list(messages)}})


async def test_a_large_request_waits_for_its_turn_and_small_ones_pass(
    client: httpx.AsyncClient, gate: BodyBudget
) -> None:
    async with gate.hold(900):  # another large request is being worked on
        small = await send(client, "a")
        large = await send(client, "x" * 300)

    assert small.status_code == 200 and "errors" not in small.json()
    assert large.status_code == 503
    assert large.headers["retry-after"] == "1"
    [error] = large.json()["errors"]
    assert error["extensions"] == {"code": "UNAVAILABLE", "retryable": True}
    assert "busy with other large requests" in error["message"]


async def test_a_large_request_goes_through_when_no_other_is_running(
    client: httpx.AsyncClient,
) -> None:
    response = await send(client, "x" * 300)

    assert response.status_code == 200
    assert len(response.json()["data"]["sendTask"]) == 1


async def test_a_large_body_that_arrives_too_slowly_ends_with_a_408_and_frees_the_turn(
    client: httpx.AsyncClient, gate: BodyBudget, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(admission, "BODY_GRACE_SECONDS", 0.0)

    response = await send(client, "x" * 300)

    assert response.status_code == 408
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "UNAVAILABLE", "retryable": True}
    assert "too slowly" in error["message"]
    assert gate.used == 0  # the bytes were given back


async def test_a_body_over_the_size_limit_is_refused_at_once_not_queued(
    client: httpx.AsyncClient, gate: BodyBudget
) -> None:
    async with gate.hold(1000):
        response = await client.post(
            "/query", content=b"x" * 5000, headers={"content-type": "application/json"}
        )

    assert response.status_code == 413


async def test_many_medium_requests_are_bounded_by_their_bytes_too() -> None:
    budget = BodyBudget(capacity_bytes=1000, large_bytes=600)
    inside = 0
    most = 0

    async def request(size: int) -> None:
        nonlocal inside, most
        async with budget.hold(size):
            inside += size
            most = max(most, inside)
            await asyncio.sleep(0.01)
            inside -= size

    await asyncio.gather(*(request(300) for _ in range(10)))

    assert most <= 1000
    assert budget.used == 0


async def test_a_body_larger_than_the_whole_budget_still_goes_alone() -> None:
    budget = BodyBudget(capacity_bytes=100, large_bytes=50)

    async with budget.hold(5000, wait_seconds=0.1):
        assert budget.used == 100
    assert budget.used == 0
