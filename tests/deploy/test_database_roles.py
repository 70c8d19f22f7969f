"""The production overlay's PostgreSQL roles, applied to a real PostgreSQL: each
service's own adapters work as its role, and a role does nothing that is not its
service's work (deploy/k8s/overlays/prod/db-grants.sql, run as the database owner after
the migrations, as the db-grants Job does)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
import yaml

from devstack.infra import LocalPostgres
from pyservices import cli
from pyservices.common.events import TASK_PROCESSED
from pyservices.common.migrations import migrate
from pyservices.publisher.adapters.postgres import PostgresOutboxStore
from pyservices.publisher.domain import ClaimLimits
from pyservices.task_service.adapters.postgres import PostgresTaskRepository
from pyservices.task_service.domain import NewTask, ProcessedResult, TaskFields

from .manifests import DEPLOY, binconv_containers

pytestmark = pytest.mark.integration

GRANTS = DEPLOY / "k8s" / "overlays" / "prod" / "db-grants.sql"
TASK_SERVICE, RELAY = "binconv_task_service", "binconv_relay"
_databases = itertools.count(1)


def test_the_prod_overlay_runs_each_database_service_as_its_role() -> None:
    """The role Secrets the services read, and the roles db-grants.sql grants to."""
    secrets: dict[str, set[str]] = {}
    for container in binconv_containers("prod"):
        for variable in container.spec.get("env", []):
            ref = variable.get("valueFrom", {}).get("secretKeyRef")
            if variable["name"] == "DATABASE_USERNAME" and ref:
                workload = container.pod_labels["app.kubernetes.io/name"]
                secrets.setdefault(workload, set()).add(ref["name"])
    # each service, with its init container (wait-migrated), on one role of its own
    assert secrets == {
        "task-service": {"binconv-db-task-service"},
        "publisher": {"binconv-db-relay"},
    }
    cluster = yaml.safe_load((DEPLOY / "k8s" / "operators" / "postgres-cluster.yaml").read_text())
    managed = {
        role["passwordSecret"]["name"]: role["name"] for role in cluster["spec"]["managed"]["roles"]
    }
    assert managed == {"binconv-db-task-service": TASK_SERVICE, "binconv-db-relay": RELAY}
    sql = GRANTS.read_text()
    assert f"TO {TASK_SERVICE}" in sql and f"TO {RELAY}" in sql


@dataclass(frozen=True)
class Database:
    owner: str
    task_service: str
    relay: str
    stranger: str  # a role that exists and was granted nothing


def as_role(url: str, role: str) -> str:
    """The test server trusts local connections: the role is the URL's user."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}"))


async def ensure_role(admin: asyncpg.Connection, role: str, login: bool = True) -> None:
    # Roles belong to the whole server, shared by every test database.
    exists = await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
    if not exists:
        await admin.execute(f'CREATE ROLE "{role}" {"LOGIN" if login else ""}')


@pytest.fixture
async def database(postgres_server: LocalPostgres) -> AsyncIterator[Database]:
    name = f"roles_{next(_databases)}_{uuid.uuid4().hex[:8]}"
    owner = f"owner_{name}"
    admin = await asyncpg.connect(postgres_server.url())
    try:
        for role in (owner, TASK_SERVICE, RELAY, "binconv_stranger"):
            await ensure_role(admin, role)
        await admin.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
    finally:
        await admin.close()
    url = postgres_server.url(name)
    migrate(as_role(url, owner))
    connection = await asyncpg.connect(as_role(url, owner))
    try:
        async with connection.transaction():
            await connection.execute(GRANTS.read_text())
    finally:
        await connection.close()
    yield Database(
        as_role(url, owner),
        as_role(url, TASK_SERVICE),
        as_role(url, RELAY),
        as_role(url, "binconv_stranger"),
    )


async def test_each_service_runs_its_own_statements_as_its_role(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks_pool = await asyncpg.create_pool(database.task_service, min_size=1, max_size=2)
    relay_pool = await asyncpg.create_pool(database.relay, min_size=1, max_size=2)
    try:
        repository = PostgresTaskRepository(tasks_pool, acquire_timeout=5)
        task_id = uuid.uuid4()
        assert await repository.ping()
        await repository.add_tasks([NewTask(id=task_id, message="héllo", owner="alice")])
        assert await repository.backlog() >= 1
        await repository.record_processed([ProcessedResult(task_id, "01101000")])
        page = await repository.list_tasks(10, 0, TaskFields(), 1 << 20, owner="alice")
        assert [task.id for task in page.tasks] == [task_id]
        found = await repository.get_task(task_id, owner="alice")
        assert found is not None and found.binary_code == "01101000"

        outbox = PostgresOutboxStore(relay_pool)
        assert await outbox.ping()
        assert (await outbox.backlog()).count == 2
        async with outbox.claim(ClaimLimits(rows=10, bytes=1 << 20)) as batch:
            assert {event.topic for event in batch.events} >= {TASK_PROCESSED}
            await batch.remove([event.id for event in batch.events])
        assert (await outbox.backlog()).count == 0
        # the relay's wake-ups
        listening = await asyncpg.connect(database.relay)
        await listening.add_listener("outbox", lambda *_: None)
        await listening.close()
    finally:
        await tasks_pool.close()
        await relay_pool.close()
    # each init container's wait for the migration, as its service's role
    for url in (database.task_service, database.relay):
        monkeypatch.setenv("DATABASE_URL", url)
        assert cli.main(["wait-migrated", "--timeout", "0"]) == 0


# (role, statement): each is some other service's work, or nobody's.
REFUSED = {
    "relay reads the messages": ("relay", "SELECT message FROM tasks"),
    "relay reads the codes": ("relay", "SELECT binary_code FROM tasks"),
    "relay counts the tasks": ("relay", "SELECT count(*) FROM tasks"),
    "relay writes a result": ("relay", "UPDATE tasks SET binary_code = '1'"),
    "relay forges an event": (
        "relay",
        "INSERT INTO outbox (topic, task_id, payload) "
        "VALUES ('task.processed', gen_random_uuid(), '{}')",
    ),
    "relay rewrites an event": ("relay", "UPDATE outbox SET payload = '{}'"),
    "task service reads event payloads": ("task_service", "SELECT payload FROM outbox"),
    "task service deletes events": ("task_service", "DELETE FROM outbox"),
    "task service deletes tasks": ("task_service", "DELETE FROM tasks"),
    "task service rewrites a message": ("task_service", "UPDATE tasks SET message = 'x'"),
    "task service backdates a task": ("task_service", "UPDATE tasks SET created_at = now()"),
    "task service changes the schema": ("task_service", "ALTER TABLE tasks ADD COLUMN x int"),
    "task service creates a table": ("task_service", "CREATE TABLE mine (id int)"),
    "relay drops the outbox": ("relay", "DROP TABLE outbox"),
    "relay records a migration": (
        "relay",
        "INSERT INTO schema_migrations (version) VALUES ('29991231000000')",
    ),
}


@pytest.mark.parametrize("attempt", REFUSED)
async def test_a_service_role_is_refused_what_is_not_its_work(
    attempt: str, database: Database
) -> None:
    role, statement = REFUSED[attempt]
    connection = await asyncpg.connect(getattr(database, role))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute(statement)
    finally:
        await connection.close()


async def test_a_role_granted_nothing_cannot_even_connect(database: Database) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await asyncpg.connect(database.stranger)
