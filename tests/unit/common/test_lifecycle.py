"""The one lifecycle every service runs: health from the ports, drain, bounded close."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping, Sequence

import httpx
import pytest

from devstack.infra import free_port
from pyservices.common import lifecycle
from pyservices.common.lifecycle import Step
from pyservices.common.ops import HealthCheck


class FakeDependency:
    def __init__(self) -> None:
        self.reachable = True

    async def ping(self) -> bool:
        if not self.reachable:
            raise ConnectionError("gone")
        return True


class FakeService(lifecycle.Service):
    """Records what the lifecycle asks of it, in order."""

    name = "fake"

    def __init__(self, *, grace: float = 1.0, drain_seconds: float = 0.0) -> None:
        self.grace, self.ops_port = grace, free_port()
        self.database = FakeDependency()
        self.calls: list[str] = []
        self.drain_seconds = drain_seconds
        self.hang_on_close = False
        self.started = asyncio.Event()
        self.failing: asyncio.Future[None] | None = None

    @property
    def checks(self) -> Mapping[str, HealthCheck]:
        return {"database": self.database.ping}

    async def start(self, stop: asyncio.Event) -> asyncio.Task[None] | None:
        self.calls.append("start")
        self.started.set()
        failing = self.failing
        if failing is None:
            return None

        async def server() -> None:  # a server task that ends with the future's error
            await failing

        return asyncio.create_task(server())

    async def drain(self, grace: float) -> None:
        self.calls.append(f"drain {grace}")
        await asyncio.sleep(self.drain_seconds)
        self.calls.append("drained")

    def closing(self) -> Sequence[Step]:
        async def close(name: str) -> None:
            self.calls.append(f"close {name}")
            if self.hang_on_close and name == "broker":
                await asyncio.Event().wait()

        return [
            Step("broker", lambda: close("broker"), seconds=0.2),
            Step("database", lambda: close("database")),
        ]


@contextlib.asynccontextmanager
async def serving(
    service: FakeService,
) -> AsyncIterator[tuple[asyncio.Event, asyncio.Task[None]]]:
    stop = asyncio.Event()
    task = asyncio.create_task(lifecycle.serve(service, stop))
    await asyncio.wait_for(service.started.wait(), 5)
    try:
        yield stop, task
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)


async def health(service: FakeService) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.ops_port}") as http:
        while True:
            with contextlib.suppress(httpx.TransportError):
                return await http.get("/health")
            await asyncio.sleep(0.02)  # the port opens when uvicorn is up: nothing to await


async def test_reports_healthy_from_the_ports_ping_and_unhealthy_when_one_fails() -> None:
    service = FakeService()
    async with serving(service):
        healthy = await asyncio.wait_for(health(service), 5)
        assert (healthy.status_code, healthy.json()) == (
            200,
            {"status": "ok", "checks": {"database": "ok"}},
        )

        service.database.reachable = False
        down = await health(service)
        assert down.status_code == 503
        assert down.json()["checks"] == {"database": "down: ConnectionError"}


async def test_on_stop_drains_with_the_grace_then_closes_each_resource_in_order() -> None:
    service = FakeService(grace=3.0)
    async with serving(service) as (stop, task):
        stop.set()
        await asyncio.wait_for(task, 5)

    assert service.calls == [
        "start",
        "drain 3.0",
        "drained",
        "close broker",
        "close database",
    ]


async def test_a_drain_longer_than_the_grace_is_cut_and_the_resources_still_close() -> None:
    service = FakeService(grace=0.1, drain_seconds=60)
    service_bound = 0.1 + lifecycle.SHUTDOWN_STEP_SECONDS
    async with serving(service) as (stop, task):
        began = time.monotonic()
        stop.set()
        await asyncio.wait_for(task, 10)

    assert time.monotonic() - began < service_bound + 1
    assert "drained" not in service.calls
    assert service.calls[-2:] == ["close broker", "close database"]


async def test_a_close_step_that_hangs_is_cut_at_its_bound() -> None:
    service = FakeService()
    service.hang_on_close = True
    async with serving(service) as (stop, task):
        began = time.monotonic()
        stop.set()
        await asyncio.wait_for(task, 10)

    assert time.monotonic() - began < 1.5  # the broker step's bound is 0.2 s
    assert service.calls[-2:] == ["close broker", "close database"]


async def test_a_server_that_fails_stops_the_service_with_its_error_after_closing() -> None:
    service = FakeService()
    service.failing = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(lifecycle.serve(service, stop))
    await asyncio.wait_for(service.started.wait(), 5)

    service.failing.set_exception(RuntimeError("HTTP server failed to start"))

    with pytest.raises(RuntimeError, match="failed to start"):
        await asyncio.wait_for(task, 5)
    assert service.calls[-2:] == ["close broker", "close database"]


async def test_close_pool_terminates_a_pool_that_does_not_close_in_time() -> None:
    class StuckPool:
        terminated = False

        async def close(self) -> None:
            await asyncio.Event().wait()

        def terminate(self) -> None:
            self.terminated = True

    pool = StuckPool()
    await lifecycle.close_pool(pool, seconds=0.05)
    assert pool.terminated


def _loop_run_by(event_loop: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The module of the loop `run_service` runs a service on, given EVENT_LOOP."""
    seen: list[str] = []
    # The process-wide logging and allocator settings stay as the test run has them.
    monkeypatch.setattr(lifecycle, "configure_logging", lambda *_: None)
    monkeypatch.setattr(lifecycle, "tune_allocator", lambda: None)

    class Settings:
        log_level = "WARNING"

        def __init__(self) -> None:
            self.event_loop = event_loop

    async def run(_: object, stop: asyncio.Event) -> None:
        seen.append(type(asyncio.get_running_loop()).__module__)

    lifecycle.run_service("fake", Settings(), run)
    return seen[0]


def test_services_run_on_uvloop_unless_event_loop_says_asyncio(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _loop_run_by("uvloop", monkeypatch).startswith("uvloop")
    assert _loop_run_by("asyncio", monkeypatch).startswith("asyncio")


def test_an_unknown_event_loop_is_refused() -> None:
    with pytest.raises(ValueError, match="EVENT_LOOP"):
        lifecycle.loop_factory("trio")


def test_event_loop_setting_defaults_to_uvloop_and_reads_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pyservices.common.settings import CommonSettings

    assert CommonSettings().event_loop == "uvloop"
    monkeypatch.setenv("EVENT_LOOP", "asyncio")
    assert CommonSettings().event_loop == "asyncio"
