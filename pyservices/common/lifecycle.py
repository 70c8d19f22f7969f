"""The one process lifecycle of every service.

`serve` runs a wired service (what each service's `bootstrap.build` returns): it starts
the ops server (`/health` from the ports' own `ping`, `/metrics`), starts the service,
waits for SIGTERM or SIGINT, lets the service drain within its grace, then closes each
resource in order, each step cut at its bound so one dead dependency cannot hang the stop.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pyservices.common import ops, tracing
from pyservices.common.logging import configure_logging, get_logger
from pyservices.common.memory import tune_allocator

log = get_logger(__name__)

# The most one call to a dependency may take while a service shuts down: a robust AMQP
# channel, for one, waits for a reconnect that may never come.
SHUTDOWN_STEP_SECONDS = 2.0


class _ServiceSettings(Protocol):
    @property
    def log_level(self) -> str: ...

    @property
    def event_loop(self) -> str: ...


S = TypeVar("S", bound=_ServiceSettings)


def shutdown_event() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT (call from inside the running loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def bounded_step(
    step: Awaitable[object], name: str, seconds: float = SHUTDOWN_STEP_SECONDS
) -> None:
    """Await one shutdown step for at most `seconds`; log and go on if it fails."""
    try:
        await asyncio.wait_for(step, seconds)
    except Exception as error:
        log.warning("shutdown_step_failed", step=name, error=repr(error))


@dataclass(frozen=True, slots=True)
class Step:
    """One resource to close at shutdown, cut at `seconds`."""

    name: str
    close: Callable[[], Awaitable[object]]
    seconds: float = SHUTDOWN_STEP_SECONDS


class _Pool(Protocol):
    async def close(self) -> None: ...

    def terminate(self) -> None: ...


async def keep_session(_connection: object) -> None:
    """A pool's `reset` that sends nothing: asyncpg's default runs a reset query (advisory
    locks, cursors, LISTEN, settings) on every release, one more round trip per use,
    for session state these services never create. asyncpg still rolls back a
    transaction left open before it calls this."""


async def close_pool(pool: _Pool, seconds: float = SHUTDOWN_STEP_SECONDS) -> None:
    """Close a database pool gracefully, or terminate it once `seconds` have passed."""
    try:
        async with asyncio.timeout(seconds):
            await pool.close()
    except TimeoutError:
        pool.terminate()


class Service(abc.ABC):
    """A wired service: its adapters built, nothing connected yet."""

    name: str
    # Stop taking work, then this long at most for the work taken to finish.
    grace: float
    host: str = "127.0.0.1"
    # Where `serve` answers /health and /metrics; None when the service's own HTTP app
    # serves them (the gateway, the WebSocket service).
    ops_port: int | None = None

    @property
    @abc.abstractmethod
    def checks(self) -> Mapping[str, ops.HealthCheck]:
        """The dependency checks of /health, each a port's own `ping`."""

    @abc.abstractmethod
    async def start(self, stop: asyncio.Event) -> asyncio.Task[None] | None:
        """Connect and begin serving (give up quietly once `stop` is set). Returns a task
        whose end, a failure, stops the service too (a server that cannot bind), if any."""

    @abc.abstractmethod
    async def drain(self, grace: float) -> None:
        """Stop taking work and let the work taken finish within `grace`."""

    @abc.abstractmethod
    def closing(self) -> Sequence[Step]:
        """What to close after the drain, in order (only what was opened)."""

    def describe(self) -> Mapping[str, Any]:
        """Fields of the `service_started` log line."""
        return {"ops_port": self.ops_port}


async def serve(service: Service, stop: asyncio.Event) -> None:
    """Run `service` until `stop` is set (or its server fails), then drain and close."""
    ops_server, ops_serving = None, None
    if service.ops_port is not None:
        ops_server = ops.embedded_server(
            ops.ops_app(service.checks), service.host, service.ops_port
        )
        ops_serving = asyncio.create_task(ops_server.serve())
    running: asyncio.Task[None] | None = None
    try:
        running = await service.start(stop)
        if not stop.is_set():
            log.info("service_started", **service.describe())
        await _until(stop, running)
        log.info("service_stopping", grace_seconds=service.grace)
        # The frameworks' own drains end at the grace; the margin lets them cancel.
        await bounded_step(
            service.drain(service.grace), "drain", service.grace + SHUTDOWN_STEP_SECONDS
        )
    finally:
        for step in service.closing():
            await bounded_step(step.close(), step.name, step.seconds)
        if ops_server is not None and ops_serving is not None:
            ops_server.should_exit = True
            await ops_serving
        log.info("service_stopped")
    if running is not None and running.done() and not running.cancelled():
        failure = running.exception()
        if failure is not None:
            raise failure


async def _until(stop: asyncio.Event, running: asyncio.Task[None] | None) -> None:
    stopping = asyncio.create_task(stop.wait())
    try:
        waiters = {stopping} if running is None else {stopping, running}
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()


def run_service(name: str, settings: S, run: Callable[[S, asyncio.Event], Awaitable[None]]) -> None:
    """The body of every service's `main()`: logging, then `run` until a stop signal."""
    tune_allocator()
    configure_logging(name, settings.log_level)

    async def main() -> None:
        await run(settings, shutdown_event())

    try:
        with (
            contextlib.suppress(KeyboardInterrupt),
            asyncio.Runner(loop_factory=loop_factory(settings.event_loop)) as runner,
        ):
            runner.run(main())
    finally:
        tracing.shutdown_tracing()  # the spans still buffered go out before the exit


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop a service runs on: "uvloop", or "asyncio" (None: the standard one)."""
    if name == "uvloop":
        import uvloop  # uvloop exists only on POSIX CPython

        return uvloop.new_event_loop
    if name == "asyncio":
        return None
    raise ValueError(f"EVENT_LOOP must be uvloop or asyncio, not {name!r}")
