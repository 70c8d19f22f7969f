"""Dramatiq with a RabbitMQ broker and its results in Redis (Debian's redis-server)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

from bench.peers import dramatiq_actors
from bench.peers.processes import Child, python_module, start_redis
from bench.peers.servers import Servers, unique
from bench.peers.system import Arrival, Client, System, now, threaded
from devstack.infra import free_port

WORKER_PROCESSES = 2
WORKER_THREADS = 8
RESULT_TIMEOUT_MS = 60_000


class DramatiqClient:
    def __init__(self, broker_url: str, redis_url: str) -> None:
        self.broker, self.backend, self.actor = dramatiq_actors.build(broker_url, redis_url)

    def convert(self, messages: list[str]) -> list[Arrival]:
        sent = [self.actor.send(message) for message in messages]
        arrivals: list[Arrival] = []
        for message in sent:  # in order, as with Celery
            code = message.get_result(backend=self.backend, block=True, timeout=RESULT_TIMEOUT_MS)
            arrivals.append((code, now()))
        return arrivals

    def close(self) -> None:
        self.broker.close()  # every thread's connection
        self.backend.client.close()
        self.backend.client.connection_pool.disconnect()


@dataclass
class DramatiqDeployment:
    broker_url: str
    redis_url: str
    children: list[Child]
    pids: dict[str, list[int]]

    def roles(self) -> dict[str, list[int]]:
        return self.pids

    def check(self) -> None:
        for child in self.children:
            child.check()

    def connect(self, clients: int) -> AbstractAsyncContextManager[Client]:
        return threaded(DramatiqClient(self.broker_url, self.redis_url), clients)


@contextlib.contextmanager
def _start(base: Path, servers: Servers) -> Iterator[DramatiqDeployment]:
    broker_url = servers.rabbitmq().create_vhost(unique("dramatiq"))
    redis_port = free_port()
    redis = start_redis(base / "redis", redis_port)
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    worker = Child(
        python_module(
            "dramatiq", "bench.peers.dramatiq_actors", "--processes", str(WORKER_PROCESSES),
            "--threads", str(WORKER_THREADS),
        ),
        base / "logs" / "dramatiq-worker.log",
        {"PEERS_BROKER_URL": broker_url, "PEERS_REDIS_URL": redis_url},
    )  # fmt: skip
    try:
        worker.start()
        pids = {"broker": [servers.rabbitmq_pid()], "results": [redis.pid], "workers": [worker.pid]}
        yield DramatiqDeployment(broker_url, redis_url, [redis, worker], pids)
    finally:
        worker.stop()
        redis.stop()


DRAMATIQ = System(
    name="dramatiq",
    label=(
        f"Dramatiq {{version}} (RabbitMQ, Redis results, {WORKER_PROCESSES} processes"
        f" x {WORKER_THREADS} threads)"
    ),
    guarantees=(
        "task messages in a durable queue, published unconfirmed, acked after the actor "
        "returns; results kept in Redis's memory only (expire after 10 min); nothing "
        "pushed to a browser"
    ),
    start=_start,
    package="dramatiq",
)
