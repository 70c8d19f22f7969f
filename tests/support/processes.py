"""The services as child processes for the end-to-end, fault and browser tests and the
benchmarks: each with its log file, started, killed and restarted one by one."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from devstack.infra import REPO, LocalPostgres, LocalRabbitMQ, free_port
from devstack.stack import SERVICES, Ports, exited, service_environment, wait_healthy
from pyservices.common.migrations import migrate


@dataclass
class ServiceProcesses:
    """The services as child processes, each with its log file, for tests."""

    ports: Ports
    database_url: str
    rabbitmq_url: str
    log_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    instance_ports: dict[str, Ports] = field(default_factory=dict)

    def start(
        self, service: str, instance: str | None = None, module: str | None = None, **extra: str
    ) -> str:
        """Start one service (a second `instance` of it gets its own name) and wait for health;
        `module`: run instead of `pyservices.<service>` (a test-only variant of it)."""
        name = instance or service
        ports = self.ports
        if instance is not None:  # a second copy needs its own listening ports
            ports = Ports(
                **{
                    **self.ports.__dict__,
                    **{key: free_port() for key in self.ports.__dict__ if key != "task_service"},
                }
            )
        env = {
            **os.environ,
            **service_environment(
                service, ports, self.database_url, self.rabbitmq_url, **self.extra_env, **extra
            ),
        }
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", module or f"pyservices.{service}"],
                env=env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.running[name] = process
        self.instance_ports[name] = ports
        wait_healthy(ports.health_url(service), 60, exited(process))
        return name

    def start_all(self) -> None:
        for service in SERVICES:
            self.start(service)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.running.pop(name)
        process.send_signal(sig)
        process.wait(30)

    def stop_all(self) -> None:
        for process in self.running.values():
            process.send_signal(signal.SIGTERM)
        for process in self.running.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.running.clear()


@contextlib.contextmanager
def fresh_stack(
    base: Path, name: str
) -> Iterator[tuple[ServiceProcesses, LocalPostgres, LocalRabbitMQ]]:
    """PostgreSQL and RabbitMQ of their own under `base` on free ports, a migrated
    database and a virtual host called `name`, and the services to start on them; all
    stopped afterwards. For the benchmarks that measure on a clean system."""
    postgres = LocalPostgres(base / "postgres", free_port())
    rabbitmq = LocalRabbitMQ(base / "rabbitmq", free_port())
    try:
        postgres.start()
        rabbitmq.start()
        database_url = postgres.create_database(name)
        migrate(database_url)
        processes = ServiceProcesses(
            Ports.free(), database_url, rabbitmq.create_vhost(name), base / "logs"
        )
        try:
            yield processes, postgres, rabbitmq
        finally:
            processes.stop_all()
    finally:
        rabbitmq.stop()
        postgres.stop()
