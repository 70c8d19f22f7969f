from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

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

    @property
    def graphql_url(self) -> str:
        return f"http://127.0.0.1:{self.engine.env['GATEWAY_PUBLISHED_PORT']}/query"

    def http_url(self, service: str) -> str:
        variable = f"{service.upper()}_PUBLISHED_PORT"
        return f"http://127.0.0.1:{self.engine.env[variable]}"

    @property
    def websocket_url(self) -> str:
        return f"ws://127.0.0.1:{self.engine.env['WEBSOCKET_PUBLISHED_PORT']}/ws"

    def container(self, service: str) -> str:
        return self.engine.container(self.project, service)

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


@pytest.fixture(scope="session")
def stack(engine: Engine) -> Iterator[Stack]:
    """deploy/compose.yaml built and running under a project of its own.

    Started in dependency order, each wave once the previous one is healthy (or, for the
    migration, has exited 0), because podman 4.3 honours no `condition:` of depends_on.
    Torn down whatever happens, and checked to leave nothing behind.
    """
    project = f"binconv-test-{os.getpid()}"
    for name in PUBLISHED_PORTS:
        engine.env[f"{name}_PUBLISHED_PORT"] = str(free_port())
    services = [
        name
        for name in compose_services()
        if not (engine.name == "podman" and name in NOT_RUN_ON_PODMAN)
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
