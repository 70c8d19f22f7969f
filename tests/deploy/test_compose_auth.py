"""Compose runs with access control on: the gateway and the WebSocket service share a
secret the user generates (no default is committed, and compose stops without one), and
browsers are let in only from the page's own origin."""

from __future__ import annotations

import subprocess
from typing import Any

import yaml

from pyservices.common.auth import AuthSettings

from .manifests import (
    COMPOSE_TEST_SECRET,
    DEPLOY,
    REPO,
    compose_model,
    compose_model_with,
    resolve_compose,
)

VERIFIERS = ("gateway", "websocket")
PAGE_ORIGINS = "http://localhost:8080,http://127.0.0.1:8080"


def _environment(model: dict[str, Any], service: str) -> dict[str, str]:
    return dict(model["services"][service].get("environment", {}))


def test_compose_turns_access_control_on_for_the_gateway_and_the_websocket_service() -> None:
    model = compose_model()
    for service in VERIFIERS:
        env = _environment(model, service)
        assert env["AUTH_JWT_SECRET"] == COMPOSE_TEST_SECRET, service
        auth = {key.lower(): value for key, value in env.items() if key.startswith("AUTH_")}
        assert AuthSettings.model_validate(auth).enabled, service
    # only the services that check tokens hold the secret
    holders = {name for name in model["services"] if "AUTH_JWT_SECRET" in _environment(model, name)}
    assert holders == set(VERIFIERS)


def test_compose_stops_without_a_secret_and_says_how_to_make_one() -> None:
    for unset in ({}, {"AUTH_JWT_SECRET": ""}):
        done = resolve_compose("config", "-q", **unset)
        assert done.returncode != 0, unset
        assert "AUTH_JWT_SECRET" in done.stderr, done.stderr
        assert "export AUTH_JWT_SECRET=$(openssl rand -hex 32)" in done.stderr, done.stderr


def test_no_secret_default_is_committed() -> None:
    """The secret is `${AUTH_JWT_SECRET:?...}` wherever the file names it: never a
    literal, never `:-default`, which would be the same secret for everybody."""
    text = (DEPLOY / "compose.yaml").read_text()
    raw = yaml.safe_load(text)
    for service in VERIFIERS:
        value = raw["services"][service]["environment"]["AUTH_JWT_SECRET"]
        assert value.startswith("${AUTH_JWT_SECRET:?"), (service, value)
    assert text.count("${AUTH_JWT_SECRET") == text.count("${AUTH_JWT_SECRET:?") == 1
    # nor a .env beside the compose file, which compose would read
    tracked = subprocess.run(
        ["git", "ls-files", "deploy"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    assert not [path for path in tracked if path.rsplit("/", 1)[-1] == ".env"]


def test_browsers_are_let_in_from_the_pages_own_origin_only() -> None:
    """The page is served by the gateway and opens the WebSocket cross-origin: both lists
    default to its origin, follow the gateway's published port, and can be overridden."""
    model = compose_model()
    assert _environment(model, "gateway")["CORS_ORIGINS"] == PAGE_ORIGINS
    assert _environment(model, "websocket")["ALLOWED_ORIGINS"] == PAGE_ORIGINS

    moved = compose_model_with(AUTH_JWT_SECRET=COMPOSE_TEST_SECRET, GATEWAY_PUBLISHED_PORT="18080")
    expected = "http://localhost:18080,http://127.0.0.1:18080"
    assert _environment(moved, "gateway")["CORS_ORIGINS"] == expected
    assert _environment(moved, "websocket")["ALLOWED_ORIGINS"] == expected
    published = moved["services"]["gateway"]["ports"][0]
    assert (published["host_ip"], published["published"]) == ("127.0.0.1", "18080")

    site = "https://binconv.example.org"
    overridden = compose_model_with(
        AUTH_JWT_SECRET=COMPOSE_TEST_SECRET, CORS_ORIGINS=site, ALLOWED_ORIGINS=site
    )
    assert _environment(overridden, "gateway")["CORS_ORIGINS"] == site
    assert _environment(overridden, "websocket")["ALLOWED_ORIGINS"] == site
