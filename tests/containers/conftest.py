from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import websockets
import yaml

from tests.support.client import ResultFeed, feed_of

from .engine import COMPOSE_FILE, REPO, Engine, EngineUnavailable

# Grafana has no Debian package, so no stand-in on podman; it stays validated offline
# by tests/deploy.
NOT_RUN_ON_PODMAN = {"grafana"}
PUBLISHED_PORTS = ("GATEWAY", "WEBSOCKET", "RABBITMQ_MANAGEMENT", "PROMETHEUS", "GRAFANA")


@dataclass
class Stack:
    engine: Engine
    project: str
    services: list[str]
    build_seconds: float
    start_seconds: float
    # sha256 of each pyservices/**/*.py when the build began
    source_digests: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def graphql_url(self) -> str:
        return f"http://127.0.0.1:{self.engine.env['GATEWAY_PUBLISHED_PORT']}/query"

    def http_url(self, service: str) -> str:
        variable = f"{service.upper()}_PUBLISHED_PORT"
        return f"http://127.0.0.1:{self.engine.env[variable]}"

    @property
    def websocket_url(self) -> str:
        return f"ws://127.0.0.1:{self.engine.env['WEBSOCKET_PUBLISHED_PORT']}/ws"

    @property
    def page_origin(self) -> str:
        """Where a browser opens the page (served by the gateway)."""
        return f"http://localhost:{self.engine.env['GATEWAY_PUBLISHED_PORT']}"

    def container(self, service: str) -> str:
        return self.engine.container(self.project, service)

    def token(self, sub: str) -> str:
        """A token minted the documented way: `binconv-service token` in the gateway's
        container, from the secret compose gave it."""
        if sub not in self.tokens:
            done = self.engine.exec(
                self.container("gateway"), "binconv-service", "token", "--sub", sub
            )
            assert done.returncode == 0, done.stderr
            self.tokens[sub] = done.stdout.strip()
        return self.tokens[sub]

    def bearer(self, sub: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(sub)}"}

    @contextlib.asynccontextmanager
    async def feed(self, sub: str) -> AsyncIterator[ResultFeed]:
        """`sub`'s results on the published WebSocket port, the token in the header."""
        headers = self.bearer(sub)
        async with (
            websockets.connect(self.websocket_url, additional_headers=headers, max_size=None) as ws,
            feed_of(ws) as feed,
        ):
            yield feed

    def spec(self, service: str) -> dict[str, Any]:
        return dict(compose_services()[service])


def compose_services() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE_FILE.read_text())["services"])


def start_order(services: list[str]) -> list[list[str]]:
    """The services in waves: each wave's dependencies are all in earlier waves."""
    depends = {
        name: set(compose_services()[name].get("depends_on", {})) & set(services)
        for name in services
    }
    waves: list[list[str]] = []
    started: set[str] = set()
    while len(started) < len(services):
        wave = sorted(n for n in services if n not in started and depends[n] <= started)
        assert wave, f"a dependency cycle among {set(services) - started}"
        waves.append(wave)
        started |= set(wave)
    return waves


def source_digests() -> dict[str, str]:
    return {
        str(path.relative_to(REPO)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in (REPO / "pyservices").rglob("*.py")
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def engine() -> Engine:
    try:
        return Engine.find()
    except EngineUnavailable as reason:
        pytest.skip(f"neither podman nor docker can run containers here: {reason}")


@pytest.fixture(scope="module")
def stack(engine: Engine) -> Iterator[Stack]:
    """deploy/compose.yaml built and running under a project of its own.

    Started in dependency order, each wave once the previous one is healthy (or, for the
    migration, has exited 0), because podman 4.3 honours no `condition:` of depends_on.
    Torn down whatever happens, and checked to leave nothing behind.
    """
    project = f"binconv-test-{os.getpid()}"
    # What docs/deploy.md has a user do first; every compose command needs it.
    engine.env["AUTH_JWT_SECRET"] = secrets.token_hex(32)
    for name in PUBLISHED_PORTS:
        engine.env[f"{name}_PUBLISHED_PORT"] = str(free_port())
    # Services of a profile (jaeger: `tracing`) start only when it is asked for, as in
    # a plain `compose up`.
    services = [
        name
        for name, spec in compose_services().items()
        if not (engine.name == "podman" and name in NOT_RUN_ON_PODMAN) and not spec.get("profiles")
    ]
    started = time.monotonic()
    try:
        engine.stand_in_images()
        digests = source_digests()
        # one build: every binconv service names the same image
        engine.compose(project, "build", "migrate", timeout=1200)
        build_seconds = time.monotonic() - started
        started = time.monotonic()
        for wave in start_order(services):
            engine.compose(project, "up", "-d", "--no-build", "--no-deps", *wave)
            for name in wave:
                spec = compose_services()[name]
                container = engine.container(project, name)
                if spec.get("restart") == "no":
                    code = engine.run_to_exit(container, seconds=120)
                    assert code == 0, f"{name} exited {code}\n{engine.logs(container)}"
            engine.wait_healthy(
                [
                    engine.container(project, n)
                    for n in wave
                    if "healthcheck" in compose_services()[n]
                ],
                seconds=120,
            )
        yield Stack(engine, project, services, build_seconds, time.monotonic() - started, digests)
    finally:
        engine.compose(project, "down", "-v", "--remove-orphans", timeout=180)
        left = {kind: engine.names(kind, project) for kind in ("ps", "network", "volume")}
        assert left == {"ps": set(), "network": set(), "volume": set()}, left
