"""Auth mode on the real stack: each caller sees only its own tasks, bad tokens are
refused with 401, and a caller over its rate is refused while another goes on.

The stack runs with AUTH_JWT_SECRET (HS256) and small per-caller limits; each test mints
tokens for callers of its own, so the tests share the stack without sharing buckets.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from pyservices.common.auth import mint
from tests.support.client import SEND_TASK
from tests.support.processes import ServiceProcesses

pytestmark = pytest.mark.e2e

SECRET = uuid.uuid4().hex + uuid.uuid4().hex  # 64 bytes, this run's own
TASKS_BURST = 40
LIST = "{ tasks(limit: 100) { id message } }"
GET = "query($id: String!) { task(id: $id) { id message } }"


@pytest.fixture(scope="module")
def secured(make_stack: Callable[[], ServiceProcesses]) -> Iterator[ServiceProcesses]:
    stack = make_stack()
    stack.extra_env.update(
        AUTH_JWT_SECRET=SECRET,
        RATE_LIMIT_TASKS_PER_SECOND="10",
        RATE_LIMIT_TASKS_BURST=str(TASKS_BURST),
        RATE_LIMIT_REQUESTS_PER_SECOND="5",
        RATE_LIMIT_REQUESTS_BURST="30",
    )
    stack.start_all()
    yield stack


class Caller:
    def __init__(self, http: httpx.AsyncClient, url: str, token: str) -> None:
        self.http, self.url, self.token = http, url, token

    async def post(self, query: str, **variables: Any) -> httpx.Response:
        return await self.http.post(
            self.url,
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {self.token}"},
        )

    async def data(self, query: str, **variables: Any) -> Any:
        response = await self.post(query, **variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        return body["data"]

    async def send(self, *messages: str) -> list[str]:
        return [t["id"] for t in (await self.data(SEND_TASK, m=list(messages)))["sendTask"]]


@pytest.fixture
async def callers(secured: ServiceProcesses) -> AsyncIterator[Callable[..., Caller]]:
    async with httpx.AsyncClient(timeout=30) as http:

        def caller(token: str | None = None) -> Caller:
            token = token or mint(SECRET, f"user-{uuid.uuid4().hex[:8]}", 600)
            return Caller(http, secured.ports.graphql_url, token)

        yield caller


async def test_each_caller_sees_only_its_own_tasks(callers: Callable[..., Caller]) -> None:
    alice, bob = callers(), callers()
    alices = await alice.send("alice 1", "alice 2")
    bobs = await bob.send("bob 1")

    alice_lists = (await alice.data(LIST))["tasks"]
    bob_lists = (await bob.data(LIST))["tasks"]

    assert [t["id"] for t in alice_lists] == alices[::-1]
    assert [t["id"] for t in bob_lists] == bobs
    assert (await alice.data(GET, id=bobs[0]))["task"] is None
    assert (await bob.data(GET, id=alices[0]))["task"] is None
    unknown = await alice.post(GET, id=str(uuid.uuid4()))
    foreign = await alice.post(GET, id=bobs[0])
    assert foreign.status_code == unknown.status_code == 200
    assert foreign.json() == unknown.json() == {"data": {"task": None}}
    assert (await bob.data(GET, id=bobs[0]))["task"] == {"id": bobs[0], "message": "bob 1"}


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (mint(SECRET, "late", expires_in=-120), "the token has expired"),
        (mint("f" * 64, "forger"), "the token's signature is invalid"),
    ],
)
async def test_an_expired_or_forged_token_is_refused_with_401(
    callers: Callable[..., Caller], token: str, reason: str
) -> None:
    for query in (SEND_TASK, LIST):
        response = await callers(token).post(query, m=["never stored"])

        assert response.status_code == 401
        [error] = response.json()["errors"]
        assert (error["message"], error["extensions"]["code"]) == (reason, "UNAUTHENTICATED")


async def test_no_token_is_refused_with_401(secured: ServiceProcesses) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(secured.ports.graphql_url, json={"query": LIST})

    assert response.status_code == 401
    assert "Authorization: Bearer" in response.json()["errors"][0]["message"]


async def test_a_caller_over_its_rate_is_refused_and_another_goes_on(
    callers: Callable[..., Caller],
) -> None:
    greedy, other = callers(), callers()
    await greedy.send(*(f"greedy {n}" for n in range(TASKS_BURST)))

    refused = await greedy.post(SEND_TASK, m=["one too many"] * 10)
    theirs = await other.send(*(f"other {n}" for n in range(TASKS_BURST)))

    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 2
    [error] = refused.json()["errors"]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["retryAfter"] == int(refused.headers["retry-after"])
    assert len(theirs) == TASKS_BURST  # the whole burst, at once
    assert len((await greedy.data(LIST))["tasks"]) == TASKS_BURST  # nothing of the refused


async def test_a_caller_over_its_request_rate_gets_429_before_anything_runs(
    callers: Callable[..., Caller],
) -> None:
    chatty, quiet = callers(), callers()
    answers: list[int] = []
    while 429 not in answers and len(answers) < 100:
        answers.append((await chatty.post(LIST)).status_code)

    # The burst of 30 at least (and what refilled meanwhile), then the refusal.
    assert answers[-1] == 429
    assert answers[:-1] == [200] * (len(answers) - 1) and len(answers) > 30
    assert (await quiet.post(LIST)).status_code == 200
