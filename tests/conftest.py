"""Real PostgreSQL and RabbitMQ for the integration and end-to-end tests.

Each test session starts its own servers (own temporary directories, free ports) only
when a test asks for them, so the suite passes beside a running `just up` stack. Tests
get their own database and virtual host from the `database_url` / `rabbitmq_url`
factories so they never see each other's rows or queues.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from devstack.infra import REPO, LocalPostgres, LocalRabbitMQ, free_port, running
from devstack.stack import Ports
from pyservices.common.migrations import migrate
from tests.support.client import GraphQLClient
from tests.support.processes import ServiceProcesses

_names = itertools.count(1)


@pytest.fixture(scope="session")
def servers_dir() -> Iterator[Path]:
    # Not pytest's tmp_path: its parent is private to root, and PostgreSQL runs as
    # the postgres user when the tests run as root.
    with tempfile.TemporaryDirectory(prefix="binconv-test-") as directory:
        os.chmod(directory, 0o755)
        yield Path(directory)


@pytest.fixture
def own_postgres(servers_dir: Path) -> Iterator[LocalPostgres]:
    """A PostgreSQL of the test's own: stopping it touches no other test."""
    with running(LocalPostgres(servers_dir / f"own-postgres-{next(_names)}", free_port())) as s:
        yield s


@pytest.fixture
def own_rabbitmq(servers_dir: Path) -> Iterator[LocalRabbitMQ]:
    """A RabbitMQ of the test's own: stopping it, or an alarm (node-wide), touches no
    other test."""
    with running(LocalRabbitMQ(servers_dir / f"own-rabbitmq-{next(_names)}", free_port())) as s:
        yield s


@pytest.fixture(scope="session")
def postgres_server(servers_dir: Path) -> Iterator[LocalPostgres]:
    with running(LocalPostgres(servers_dir / "postgres", free_port())) as server:
        yield server


@pytest.fixture(scope="session")
def rabbitmq_server(servers_dir: Path) -> Iterator[LocalRabbitMQ]:
    with running(LocalRabbitMQ(servers_dir / "rabbitmq", free_port())) as server:
        yield server


@pytest.fixture(scope="session")
def new_database(postgres_server: LocalPostgres) -> Callable[[], str]:
    """Makes a fresh, migrated database and returns its URL."""

    def make() -> str:
        url = postgres_server.create_database(f"test_{next(_names)}")
        migrate(url)
        return url

    return make


@pytest.fixture(scope="session")
def new_vhost(rabbitmq_server: LocalRabbitMQ) -> Callable[[], str]:
    """Makes a fresh virtual host and returns its AMQP URL."""
    return lambda: rabbitmq_server.create_vhost(f"test_{next(_names)}")


@pytest.fixture
def database_url(new_database: Callable[[], str]) -> str:
    return new_database()


@pytest.fixture
def rabbitmq_url(new_vhost: Callable[[], str]) -> str:
    return new_vhost()


# The whole system as processes: real PostgreSQL, real RabbitMQ, the five services.

LOG_DIR = REPO / "artifacts" / "e2e-logs"


@pytest.fixture(scope="module")
def make_stack(
    new_database: Callable[[], str], new_vhost: Callable[[], str], request: pytest.FixtureRequest
) -> Iterator[Callable[[], ServiceProcesses]]:
    """Makes stacks of processes on fresh ports, database and vhost; stops them after."""
    made: list[ServiceProcesses] = []

    def make() -> ServiceProcesses:
        stack = ServiceProcesses(
            ports=Ports.free(),
            database_url=new_database(),
            rabbitmq_url=new_vhost(),
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
