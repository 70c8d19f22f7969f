"""The PostgreSQL and RabbitMQ a system runs on: fresh ones of its own (the benchmark),
or servers already running (the smoke test shares its session's), each system then
taking its own database and virtual host on them."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from devstack.infra import LocalPostgres, LocalRabbitMQ, free_port

Server = TypeVar("Server", LocalPostgres, LocalRabbitMQ)


def unique(name: str) -> str:
    """A database or virtual host name no other user of a shared server has."""
    return f"{name.replace('-', '_')}_{uuid.uuid4().hex[:8]}"


@dataclass
class Servers:
    """Hands out the servers, starting fresh ones under `base` on first use (and stopping
    them at the end) unless running ones were given."""

    base: Path
    given_postgres: LocalPostgres | None = None
    given_rabbitmq: LocalRabbitMQ | None = None
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def postgres(self) -> LocalPostgres:
        if self.given_postgres is None:
            self.given_postgres = self._start(LocalPostgres(self.base / "postgres", free_port()))
        return self.given_postgres

    def rabbitmq(self) -> LocalRabbitMQ:
        if self.given_rabbitmq is None:
            self.given_rabbitmq = self._start(LocalRabbitMQ(self.base / "rabbitmq", free_port()))
        return self.given_rabbitmq

    def rabbitmq_pid(self) -> int:
        process = self.rabbitmq().process
        assert process is not None
        return process.pid

    def _start(self, server: Server) -> Server:
        server.start()
        self._stack.callback(server.stop)
        return server

    def __enter__(self) -> Servers:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stack.close()
