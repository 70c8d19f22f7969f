"""Celery 5 with a RabbitMQ broker, results through the rpc backend (replies over
RabbitMQ to the caller) or the database backend (SQLAlchemy on PostgreSQL, polled)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.peers import celery_app
from bench.peers.processes import Child, postmaster_pid, python_module
from bench.peers.servers import Servers, unique
from bench.peers.system import Arrival, Client, System, now, threaded

# How often a caller asks the database backend for a result (Celery's default is
# 0.5 s, which would dominate every latency figure).
POLL_SECONDS = 0.01
WORKER_PROCESSES = 2
RESULT_TIMEOUT = 60


class CeleryClient:
    """One app; Celery gives each calling thread its own result backend (for rpc, its
    own reply queue), so each is remembered here to be closed."""

    def __init__(self, broker_url: str, result_backend: str) -> None:
        self.app = celery_app.make_app(broker_url, result_backend)
        self._backends: dict[int, Any] = {}
        self._lock = threading.Lock()

    def convert(self, messages: list[str]) -> list[Arrival]:
        with self._lock:
            self._backends.setdefault(threading.get_ident(), self.app.backend)
        sent = [self.app.send_task(celery_app.TASK, args=(message,)) for message in messages]
        arrivals: list[Arrival] = []
        for result in sent:  # in order: a later task may be done first, then it waits here
            code = result.get(timeout=RESULT_TIMEOUT, interval=POLL_SECONDS)
            arrivals.append((code, now()))
        return arrivals

    def close(self) -> None:
        for backend in self._backends.values():
            close_backend(backend)
        self.app.pool.force_close_all()
        self.app.close()


def close_backend(backend: Any) -> None:
    consumer = getattr(backend, "result_consumer", None)  # rpc
    if consumer is not None and consumer._consumer is not None:
        consumer.stop()
    sessions = getattr(backend, "session_manager", None)  # database
    if sessions is not None:
        sessions.invalidate(backend.url)


@dataclass
class CeleryDeployment:
    broker_url: str
    result_backend: str
    worker: Child
    pids: dict[str, list[int]]

    def roles(self) -> dict[str, list[int]]:
        return {**self.pids, "workers": [self.worker.pid]}

    def check(self) -> None:
        self.worker.check()

    def connect(self, clients: int) -> AbstractAsyncContextManager[Client]:
        return threaded(CeleryClient(self.broker_url, self.result_backend), clients)


def _results_table(broker_url: str, result_backend: str) -> None:
    """The results table before the first caller, so nothing races to make it."""
    app = celery_app.make_app(broker_url, result_backend)
    app.backend.ResultSession().close()
    close_backend(app.backend)
    app.close()


@contextlib.contextmanager
def _start(base: Path, servers: Servers, database: bool) -> Iterator[CeleryDeployment]:
    broker_url = servers.rabbitmq().create_vhost(unique("celery"))
    pids = {"broker": [servers.rabbitmq_pid()]}
    result_backend = "rpc://"
    if database:
        postgres = servers.postgres()
        name = unique("celery")
        postgres.create_database(name)
        result_backend = f"db+postgresql+psycopg://{postgres.user}@127.0.0.1:{postgres.port}/{name}"
        _results_table(broker_url, result_backend)
        pids["database"] = [postmaster_pid(postgres)]
    worker = Child(
        python_module(
            "celery", "-A", "bench.peers.celery_app", "worker", "--pool", "prefork",
            "--concurrency", str(WORKER_PROCESSES), "--without-heartbeat",
            "--without-gossip", "--without-mingle", "--loglevel", "WARNING",
        ),
        base / "logs" / "celery-worker.log",
        {"PEERS_BROKER_URL": broker_url, "PEERS_RESULT_BACKEND": result_backend},
    )  # fmt: skip
    worker.start()
    try:
        yield CeleryDeployment(broker_url, result_backend, worker, pids)
    finally:
        worker.stop()


@contextlib.contextmanager
def _rpc(base: Path, servers: Servers) -> Iterator[CeleryDeployment]:
    with _start(base, servers, database=False) as deployment:
        yield deployment


@contextlib.contextmanager
def _database(base: Path, servers: Servers) -> Iterator[CeleryDeployment]:
    with _start(base, servers, database=True) as deployment:
        yield deployment


RPC = System(
    name="celery-rpc",
    label=f"Celery {{version}} (RabbitMQ, rpc results, prefork {WORKER_PROCESSES})",
    guarantees=(
        "task messages in a durable queue but published unconfirmed and acked by the worker "
        "before it runs the task; results only as a transient reply to the caller; "
        "nothing pushed to a browser"
    ),
    start=_rpc,
    package="celery",
)
DATABASE = System(
    name="celery-db",
    label=f"Celery {{version}} (RabbitMQ, PostgreSQL results, prefork {WORKER_PROCESSES})",
    guarantees=(
        "task messages as with the rpc backend; each result stored in PostgreSQL, which "
        "callers poll "
        f"(every {POLL_SECONDS * 1000:g} ms here); nothing pushed to a browser"
    ),
    start=_database,
    package="celery",
    note=(
        "Outside a worker process Celery's database backend opens a new PostgreSQL "
        "connection for every query (SQLAlchemy's NullPool), each poll included: most of "
        "its database CPU."
    ),
)
