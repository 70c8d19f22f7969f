"""This pipeline on a fresh stack, started by the harness the other end-to-end
benchmarks use: a batch is one sendTask request, its results the WebSocket frames."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import websockets

from bench.peers.processes import postmaster_pid
from bench.peers.servers import Servers, unique
from bench.peers.system import Arrival, Client, System, now
from devstack.infra import LocalPostgres, LocalRabbitMQ
from devstack.stack import Ports
from pyservices.common.migrations import migrate
from tests.support.client import GraphQLClient, send_task_mutation
from tests.support.processes import ServiceProcesses

RESULT_TIMEOUT = 60
SEND = send_task_mutation("id")


class PipelineClient:
    """sendTask over HTTP; results from one WebSocket connection, matched by id."""

    def __init__(self, graphql: GraphQLClient) -> None:
        self.graphql = graphql
        self.arrived: dict[str, Arrival] = {}
        self.waiting: dict[str, asyncio.Future[Arrival]] = {}

    def on_frame(self, raw: str | bytes) -> None:
        frame = orjson.loads(raw)
        arrival = (frame["binaryCode"], now())
        waiter = self.waiting.pop(frame["id"], None)
        if waiter is None:  # before its sendTask answer was read, or a duplicate
            self.arrived.setdefault(frame["id"], arrival)
        elif not waiter.done():
            waiter.set_result(arrival)

    async def convert(self, messages: list[str]) -> list[Arrival]:
        data = await self.graphql.execute(SEND, {"m": messages})
        ids = [task["id"] for task in data["sendTask"]]
        loop = asyncio.get_running_loop()
        futures = []
        for task_id in ids:
            future: asyncio.Future[Arrival] = loop.create_future()
            if task_id in self.arrived:
                future.set_result(self.arrived.pop(task_id))
            else:
                self.waiting[task_id] = future
            futures.append(future)
        async with asyncio.timeout(RESULT_TIMEOUT):
            return list(await asyncio.gather(*futures))


@dataclass
class PipelineDeployment:
    stack: ServiceProcesses
    postgres: LocalPostgres
    rabbitmq: LocalRabbitMQ

    def roles(self) -> dict[str, list[int]]:
        assert self.rabbitmq.process is not None
        running = self.stack.running
        return {
            "broker": [self.rabbitmq.process.pid],
            "database": [postmaster_pid(self.postgres)],
            "workers": [p.pid for name, p in running.items() if name.startswith("worker")],
            "services": [p.pid for name, p in running.items() if not name.startswith("worker")],
        }

    def check(self) -> None:
        for name, process in self.stack.running.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}")

    def connect(self, clients: int) -> AbstractAsyncContextManager[Client]:
        return self._connect(clients)

    @contextlib.asynccontextmanager
    async def _connect(self, clients: int) -> AsyncIterator[Client]:
        limits = httpx.Limits(max_connections=clients * 2)
        async with (
            httpx.AsyncClient(timeout=RESULT_TIMEOUT, limits=limits) as http,
            websockets.connect(self.stack.ports.websocket_url, max_size=None) as feed,
        ):
            client = PipelineClient(GraphQLClient(self.stack.ports.graphql_url, http))

            async def read() -> None:
                async for raw in feed:
                    client.on_frame(raw)

            reader = asyncio.create_task(read())
            try:
                yield client
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                    await reader


@contextlib.contextmanager
def start(
    base: Path, servers: Servers, extra_env: dict[str, str] | None = None
) -> Iterator[PipelineDeployment]:
    """The five services on `servers`, with `extra_env` added to their environments."""
    # As tests.support.processes.fresh_stack, on servers that may be shared.
    postgres, rabbitmq = servers.postgres(), servers.rabbitmq()
    database_url = postgres.create_database(unique("pipeline"))
    migrate(database_url)
    rabbitmq_url = rabbitmq.create_vhost(unique("pipeline"))
    stack = ServiceProcesses(
        Ports.free(), database_url, rabbitmq_url, base / "logs", extra_env=dict(extra_env or {})
    )
    try:
        stack.start_all()
        yield PipelineDeployment(stack, postgres, rabbitmq)
    finally:
        stack.stop_all()


PIPELINE = System(
    name="pipeline",
    label="this pipeline (RabbitMQ, PostgreSQL, 5 services, 1 worker process)",
    guarantees=(
        "every task and its event stored in one PostgreSQL transaction before sendTask "
        "answers; publishes confirmed by RabbitMQ; a task acked only after its result is "
        "recorded; each result pushed to every connected browser over WebSocket"
    ),
    start=start,
)
