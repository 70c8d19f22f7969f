"""The whole system as processes: real PostgreSQL, real RabbitMQ, the five services."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from pyservices.devstack.client import GraphQLClient
from pyservices.devstack.infra import REPO
from pyservices.devstack.stack import Ports, ServiceProcesses

LOG_DIR = REPO / "artifacts" / "e2e-logs"


@pytest.fixture(scope="module")
def make_stack(
    new_database: Callable[[], str], new_vhost: Callable[[], str], request: pytest.FixtureRequest
) -> Iterator[Callable[[], ServiceProcesses]]:
    """Makes stacks of processes on fresh ports, database and vhost; stops them after."""
    made: list[ServiceProcesses] = []

    def make() -> ServiceProcesses:
        stack = ServiceProcesses(
            ports=Ports.free(), database_url=new_database(), rabbitmq_url=new_vhost(),
            log_dir=LOG_DIR / f"{Path(request.node.name).stem}-{len(made)}",
        )
        made.append(stack)
        return stack

    yield make
    for stack in made:
        stack.stop_all()


@pytest.fixture(scope="module")
def stack(make_stack: Callable[[], ServiceProcesses]) -> ServiceProcesses:
    processes = make_stack()
    processes.start_all()
    return processes


@pytest.fixture
async def graphql(stack: ServiceProcesses) -> AsyncIterator[GraphQLClient]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield GraphQLClient(stack.ports.graphql_url, http)
