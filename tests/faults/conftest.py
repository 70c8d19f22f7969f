"""Pipelines for the fault suite: a database with the outbox audit, a virtual host, and
the five services as processes the tests kill and restart.

The cases that stop PostgreSQL or RabbitMQ get servers of their own, so an outage never
reaches the session's shared servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from devstack.infra import REPO, LocalPostgres, LocalRabbitMQ
from devstack.stack import SERVICES, Ports, exited, wait_healthy
from pyservices.common.migrations import migrate
from tests.faults.ledger import Pipeline, install_outbox_audit
from tests.faults.trial import Trial, under_load
from tests.support.processes import ServiceProcesses

LOG_DIR = REPO / "artifacts" / "fault-logs"
_names = itertools.count(1)

MakeFaultStack = Callable[[LocalPostgres, LocalRabbitMQ], Awaitable["FaultStack"]]


class FaultStack:
    """One pipeline and its five services; every call that waits runs off the event
    loop, so the load and the WebSocket listeners keep going while a process starts."""

    def __init__(self, pipeline: Pipeline, processes: ServiceProcesses) -> None:
        self.pipeline = pipeline
        self.processes = processes

    @property
    def ports(self) -> Ports:
        return self.processes.ports

    async def start_all(
        self,
        env: dict[str, dict[str, str]] | None = None,
        modules: dict[str, str] | None = None,
    ) -> None:
        for service in SERVICES:
            module = (modules or {}).get(service)
            await self.start(service, module=module, **(env or {}).get(service, {}))

    async def start(
        self, service: str, instance: str | None = None, module: str | None = None, **env: str
    ) -> str:
        """`module`: run instead of the service's own (a test-only variant of it)."""
        return await asyncio.to_thread(
            self.processes.start, service, instance, module=module, **env
        )

    async def kill(self, name: str) -> None:
        await asyncio.to_thread(self.processes.kill, name)

    def under_load(
        self, fault: str, **options: Any
    ) -> contextlib.AbstractAsyncContextManager[Trial]:
        """A steady load and WebSocket listeners around the block; see `ledger.under_load`."""
        return under_load(
            self.pipeline, self.ports.graphql_url, self.ports.websocket_url, fault, **options
        )

    async def wait_all_healthy(self, seconds: float = 60) -> None:
        for name, process in list(self.processes.running.items()):
            service = name.split("-")[0]
            url = self.processes.instance_ports[name].health_url(service)
            await asyncio.to_thread(wait_healthy, url, seconds, exited(process))


async def _pipeline(postgres: LocalPostgres, rabbitmq: LocalRabbitMQ) -> Pipeline:
    name = f"faults_{next(_names)}"
    database_url = await asyncio.to_thread(postgres.create_database, name)
    await asyncio.to_thread(migrate, database_url)
    await install_outbox_audit(database_url)
    await asyncio.to_thread(rabbitmq.create_vhost, name)
    return Pipeline(database_url=database_url, rabbitmq=rabbitmq, vhost=name)


@pytest.fixture
async def make_fault_stack(request: pytest.FixtureRequest) -> AsyncIterator[MakeFaultStack]:
    made: list[FaultStack] = []

    async def make(postgres: LocalPostgres, rabbitmq: LocalRabbitMQ) -> FaultStack:
        pipeline = await _pipeline(postgres, rabbitmq)
        processes = ServiceProcesses(
            ports=Ports.free(),
            database_url=pipeline.database_url,
            rabbitmq_url=rabbitmq.url(pipeline.vhost),
            log_dir=LOG_DIR / request.node.name,
        )
        shutil.rmtree(processes.log_dir, ignore_errors=True)
        made.append(FaultStack(pipeline, processes))
        return made[-1]

    yield make
    for stack in made:
        await asyncio.to_thread(stack.processes.stop_all)


@pytest.fixture
async def fault_stack(
    make_fault_stack: MakeFaultStack,
    postgres_server: LocalPostgres,
    rabbitmq_server: LocalRabbitMQ,
) -> FaultStack:
    """A pipeline on the session's shared servers (for faults that leave them running)."""
    return await make_fault_stack(postgres_server, rabbitmq_server)


@pytest.fixture
async def running_stack(fault_stack: FaultStack) -> FaultStack:
    """The five services, as configured by default, on the session's shared servers."""
    return await _started(fault_stack)


@pytest.fixture
async def running_on_own_rabbitmq(
    own_rabbitmq: LocalRabbitMQ,  # first: its teardown comes after the services'
    postgres_server: LocalPostgres,
    make_fault_stack: MakeFaultStack,
) -> FaultStack:
    """The five services on a RabbitMQ the case may stop."""
    return await _started(await make_fault_stack(postgres_server, own_rabbitmq))


@pytest.fixture
async def running_on_own_postgres(
    own_postgres: LocalPostgres,  # first: its teardown comes after the services'
    rabbitmq_server: LocalRabbitMQ,
    make_fault_stack: MakeFaultStack,
) -> FaultStack:
    """The five services on a PostgreSQL the case may stop."""
    return await _started(await make_fault_stack(own_postgres, rabbitmq_server))


async def _started(stack: FaultStack) -> FaultStack:
    await stack.start_all()
    return stack
