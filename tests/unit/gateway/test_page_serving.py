"""The page as the gateway serves it: its config.js, and a CSP that lets it connect only
to the configured endpoints."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from pydantic import ValidationError

from pyservices.common.auth import AuthSettings, TokenVerifier
from pyservices.gateway.adapters.http import create_app
from pyservices.gateway.settings import GatewaySettings
from pyservices.webui.page import PageSettings
from tests.unit.gateway.gateway_fakes import FakeTaskService

SECRET = "a-unit-test-secret-of-at-least-32-bytes"
Client = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def gateway() -> AsyncIterator[Client]:
    clients: list[httpx.AsyncClient] = []

    def make(*, page: PageSettings | None = None, auth: bool = False) -> httpx.AsyncClient:
        verifier = TokenVerifier(AuthSettings(auth_jwt_secret=SECRET)) if auth else None
        app = create_app(FakeTaskService(), {}, page=page, verifier=verifier)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://binconv.test:8080"
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def config_of(client: httpx.AsyncClient) -> dict[str, object]:
    response = await client.get("/config.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    prefix, suffix = "window.BINCONV_CONFIG = ", ";\n"
    assert response.text.startswith(prefix) and response.text.endswith(suffix)
    config: dict[str, object] = json.loads(response.text[len(prefix) : -len(suffix)])
    return config


def connect_src(policy: str) -> list[str]:
    match = re.search(r"connect-src ([^;]*)", policy)
    assert match is not None, policy
    return match.group(1).split()


async def test_open_mode_config_says_no_auth_and_allows_no_other_endpoint(
    gateway: Client,
) -> None:
    assert await config_of(gateway()) == {"auth": False, "allowedEndpoints": []}


async def test_auth_mode_config_says_so_and_the_page_itself_needs_no_token(
    gateway: Client,
) -> None:
    client = gateway(auth=True)

    assert (await config_of(client))["auth"] is True
    assert (await client.get("/")).status_code == 200
    assert (await client.post("/query", json={"query": "{ tasks { id } }"})).status_code == 401


@pytest.mark.parametrize("path", ["/", "/index.html"])
async def test_by_default_the_page_connects_to_its_origin_and_the_websocket_port_only(
    gateway: Client, path: str
) -> None:
    response = await gateway().get(path)

    policy = response.headers["content-security-policy"]
    assert connect_src(policy) == [
        "'self'",
        "ws://binconv.test:8082/ws",
        "wss://binconv.test:8082/ws",
    ]
    assert "frame-ancestors 'none'" in policy
    meta = re.search(r'http-equiv="Content-Security-Policy"\s+content="([^"]*)"', response.text)
    assert meta is not None
    assert connect_src(meta.group(1)) == connect_src(policy)
    assert '<script src="config.js"></script>' in response.text


async def test_configured_and_allowed_endpoints_are_all_the_page_may_connect_to(
    gateway: Client,
) -> None:
    page = PageSettings.parse(
        "https://api.example/query", "/ws", "https://staging.example, wss://push.example/ws", ""
    )
    client = gateway(page=page)

    policy = (await client.get("/", headers={"host": "binconv.example"})).headers[
        "content-security-policy"
    ]

    assert connect_src(policy) == [
        "'self'",
        "https://api.example/query",
        "ws://binconv.example/ws",
        "wss://binconv.example/ws",
        "https://staging.example",
        "wss://push.example/ws",
    ]
    assert await config_of(client) == {
        "auth": False,
        "allowedEndpoints": ["https://staging.example", "wss://push.example/ws"],
        "graphqlUrl": "https://api.example/query",
        "websocketUrl": "/ws",
    }


async def test_a_hostile_host_header_adds_nothing_to_the_policy(gateway: Client) -> None:
    response = await gateway().get("/", headers={"host": "x; connect-src *"})

    assert connect_src(response.headers["content-security-policy"]) == ["'self'"]


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("page_graphql_url", "https://api.example/query; script-src *"),
        ("page_graphql_url", "javascript:alert(1)"),
        ("page_websocket_url", "https://push.example/ws"),
        ("page_websocket_url", "//push.example/ws"),
        ("page_allowed_endpoints", "/relative"),
        ("page_allowed_endpoints", "https://*.example"),
        ("page_allowed_endpoints", "https://user@evil.example"),
        ("page_login_url", "https://login.example/?next='x'"),
    ],
)
def test_an_endpoint_that_is_not_one_stops_the_gateway_at_start(setting: str, value: str) -> None:
    with pytest.raises(ValidationError, match="is not an endpoint"):
        GatewaySettings.model_validate({setting: value})


def test_the_settings_give_the_page_its_endpoints() -> None:
    settings = GatewaySettings.model_validate(
        {
            "page_websocket_url": "/ws",
            "page_allowed_endpoints": "http://127.0.0.1:9000,",
            "page_login_url": "https://login.example/auth",
        }
    )

    assert settings.page == PageSettings(
        websocket_url="/ws",
        allowed_endpoints=("http://127.0.0.1:9000",),
        login_url="https://login.example/auth",
    )
