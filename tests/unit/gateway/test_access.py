"""Auth mode and rate limits at the gateway's HTTP surface (fake task service)."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from pyservices.common.auth import AuthSettings, TokenVerifier, mint
from pyservices.gateway.adapters.http import create_app
from pyservices.gateway.limits import TokenBuckets
from pyservices.gateway.metrics import REQUESTS_REFUSED
from tests.support.client import send_task_mutation
from tests.unit.gateway.gateway_fakes import FakeTaskService

SECRET = "a-local-secret-of-at-least-32-bytes!"
SEND = send_task_mutation("id")
LIST = "{ tasks(limit: 100) { id message } }"
GET = "query($id: String!) { task(id: $id) { id message } }"


def bearer(sub: str, secret: str = SECRET, expires_in: float = 600) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint(secret, sub, expires_in)}"}


def client_of(
    service: FakeTaskService,
    verifier: TokenVerifier | None,
    requests: TokenBuckets | None = None,
    tasks: TokenBuckets | None = None,
) -> httpx.AsyncClient:
    app = create_app(
        service,
        {},
        cors_origins=["http://page.example"],
        verifier=verifier,
        request_buckets=requests,
        task_buckets=tasks,
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


@pytest.fixture
def service() -> FakeTaskService:
    return FakeTaskService()


@pytest.fixture
async def client(service: FakeTaskService) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(service, TokenVerifier(AuthSettings(auth_jwt_secret=SECRET))) as http:
        yield http


async def call(
    client: httpx.AsyncClient, query: str, headers: dict[str, str], **variables: object
) -> httpx.Response:
    return await client.post(
        "/query", json={"query": query, "variables": variables}, headers=headers
    )


class TestAuthentication:
    @pytest.mark.parametrize(
        ("headers", "reason"),
        [
            ({}, "authentication required: send the header Authorization: Bearer <token>"),
            ({"Authorization": "Basic eDp5"}, "the Authorization header must be: Bearer <token>"),
            (bearer("alice", expires_in=-60), "the token has expired"),
            (bearer("alice", "a-forged-secret-of-at-least-32-bytes"), "signature is invalid"),
            ({"Authorization": "Bearer garbage"}, "the token is malformed"),
        ],
    )
    async def test_a_request_without_a_good_token_is_a_401_saying_why(
        self,
        client: httpx.AsyncClient,
        service: FakeTaskService,
        headers: dict[str, str],
        reason: str,
    ) -> None:
        response = await call(client, SEND, headers, m=["a"])

        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        [error] = response.json()["errors"]
        assert reason in error["message"]
        assert error["extensions"] == {"code": "UNAUTHENTICATED"}
        assert SECRET not in response.text
        assert service.calls == []  # nothing reached the task service

    async def test_a_refusal_is_readable_by_the_allowed_page(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await call(client, LIST, {"Origin": "http://page.example"})

        assert response.status_code == 401
        assert response.headers["access-control-allow-origin"] == "http://page.example"

    async def test_the_page_and_health_need_no_token(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/")).status_code == 200

    async def test_each_caller_sees_only_its_own_tasks(self, client: httpx.AsyncClient) -> None:
        alice, bob = bearer("alice"), bearer("bob")
        [mine] = (await call(client, SEND, alice, m=["alice's"])).json()["data"]["sendTask"]
        [theirs] = (await call(client, SEND, bob, m=["bob's"])).json()["data"]["sendTask"]

        listed = (await call(client, LIST, alice)).json()["data"]["tasks"]
        foreign = (await call(client, GET, alice, id=theirs["id"])).json()
        unknown = await call(client, GET, alice, id="00000000-0000-0000-0000-000000000000")
        own = (await call(client, GET, bob, id=theirs["id"])).json()["data"]["task"]

        assert listed == [{"id": mine["id"], "message": "alice's"}]
        assert foreign == unknown.json() == {"data": {"task": None}}
        assert own == {"id": theirs["id"], "message": "bob's"}


class TestOpenMode:
    async def test_without_a_verifier_no_token_is_needed_and_every_task_is_seen(
        self, service: FakeTaskService
    ) -> None:
        async with client_of(service, None) as client:
            await call(client, SEND, {}, m=["a"])
            await call(client, SEND, bearer("whoever"), m=["b"])  # a token changes nothing
            listed = (await call(client, LIST, {})).json()["data"]["tasks"]

        assert [t["message"] for t in listed] == ["b", "a"]
        assert set(service.owners.values()) == {None}


class TestRateLimits:
    async def test_a_caller_over_its_request_rate_gets_429_and_others_pass(
        self, service: FakeTaskService
    ) -> None:
        verifier = TokenVerifier(AuthSettings(auth_jwt_secret=SECRET))
        async with client_of(service, verifier, TokenBuckets(rate=0.5, burst=2)) as client:
            ok = [await call(client, LIST, bearer("alice")) for _ in range(2)]
            over = await call(client, LIST, bearer("alice"))
            other = await call(client, LIST, bearer("bob"))

        assert [r.status_code for r in ok] == [200, 200]
        assert over.status_code == 429
        assert over.headers["retry-after"] == "2"
        [error] = over.json()["errors"]
        assert error["extensions"] == {"code": "RATE_LIMITED", "retryAfter": 2, "retryable": True}
        assert other.status_code == 200

    async def test_refusals_are_counted_by_reason(self, service: FakeTaskService) -> None:
        def refused(reason: str) -> float:
            return float(REQUESTS_REFUSED.labels(reason)._value.get())

        before = {reason: refused(reason) for reason in ("unauthenticated", "rate limited")}
        verifier = TokenVerifier(AuthSettings(auth_jwt_secret=SECRET))
        async with client_of(service, verifier, TokenBuckets(rate=0.5, burst=1)) as client:
            await call(client, LIST, {})
            await call(client, LIST, bearer("alice"))
            await call(client, LIST, bearer("alice"))

        assert refused("unauthenticated") == before["unauthenticated"] + 1
        assert refused("rate limited") == before["rate limited"] + 1

    async def test_a_caller_over_its_task_rate_gets_a_rate_limited_error(
        self, service: FakeTaskService
    ) -> None:
        verifier = TokenVerifier(AuthSettings(auth_jwt_secret=SECRET))
        tasks = TokenBuckets(rate=1, burst=5)
        async with client_of(service, verifier, tasks=tasks) as client:
            first = await call(client, SEND, bearer("alice"), m=["x"] * 4)
            over = await call(client, SEND, bearer("alice"), m=["x"] * 3)
            other = await call(client, SEND, bearer("bob"), m=["x"] * 5)

        assert first.status_code == 200 and other.status_code == 200
        assert over.status_code == 429
        assert over.headers["retry-after"] == "2"
        assert over.json()["data"] is None
        [error] = over.json()["errors"]
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert error["extensions"]["retryAfter"] == 2
        assert len(service.tasks) == 9  # the refused request stored nothing

    async def test_in_open_mode_the_client_address_is_the_caller(
        self, service: FakeTaskService
    ) -> None:
        async with client_of(service, None, TokenBuckets(rate=0.1, burst=1)) as client:
            assert (await call(client, LIST, {})).status_code == 200
            assert (await call(client, LIST, bearer("someone-else"))).status_code == 429


async def test_an_identity_provider_out_of_reach_is_a_retryable_503(
    service: FakeTaskService,
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/jwks"
    settings = AuthSettings(auth_jwks_url=url, auth_issuer="https://id", auth_audience="api")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {"sub": "alice", "iss": "https://id", "aud": "api", "exp": time.time() + 60}
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})

    async with client_of(service, TokenVerifier(settings)) as client:
        response = await call(client, LIST, {"Authorization": f"Bearer {token}"})

    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
