"""The five services and how to reach them: ports, environments, health URLs.

One description shared by `just up` (which hands the processes to honcho) and by the
end-to-end and fault tests (which start, kill and restart them one by one).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path

from honcho.environ import parse_procfile

from pyservices.common.migrations import migrate
from pyservices.devstack.infra import REPO, LocalPostgres, LocalRabbitMQ, free_port

SERVICES = ("task_service", "publisher", "worker", "websocket", "gateway")


@dataclass(frozen=True)
class Ports:
    gateway: int = 8080
    websocket: int = 8082
    task_service: int = 50051
    task_service_metrics: int = 9101
    publisher_metrics: int = 9102
    worker_metrics: int = 9103

    @classmethod
    def free(cls) -> Ports:
        return cls(**{f.name: free_port() for f in fields(cls)})

    def health_url(self, service: str) -> str:
        port = {
            "gateway": self.gateway,
            "websocket": self.websocket,
            "task_service": self.task_service_metrics,
            "publisher": self.publisher_metrics,
            "worker": self.worker_metrics,
        }[service]
        return f"http://127.0.0.1:{port}/health"

    @property
    def graphql_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway}/query"

    @property
    def websocket_url(self) -> str:
        return f"ws://127.0.0.1:{self.websocket}/ws"


def service_environment(
    service: str, ports: Ports, database_url: str, rabbitmq_url: str, **extra: str
) -> dict[str, str]:
    """The environment variables one service reads (the names of its settings class)."""
    env = {
        "DATABASE_URL": database_url,
        "RABBITMQ_URL": rabbitmq_url,
        "TASK_SERVICE_ADDR": f"127.0.0.1:{ports.task_service}",
        "TASK_SERVICE_PORT": str(ports.task_service),
        "GATEWAY_PORT": str(ports.gateway),
        "WEBSOCKET_PORT": str(ports.websocket),
        **extra,
    }
    metrics = {
        "task_service": ports.task_service_metrics,
        "publisher": ports.publisher_metrics,
        "worker": ports.worker_metrics,
    }
    if service in metrics:
        env["METRICS_PORT"] = str(metrics[service])
    return env


def procfile_commands() -> dict[str, str]:
    return {
        name: command
        for name, command in parse_procfile((REPO / "Procfile").read_text()).processes.items()
    }


def wait_healthy(url: str, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}: {exc.read()[:200]!r}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.05)
    raise TimeoutError(f"{url} not healthy after {timeout} s ({last})")


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

    def start(self, service: str, instance: str | None = None, **extra: str) -> str:
        """Start one service (a second `instance` of it gets its own name) and wait for health."""
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
                [sys.executable, "-m", f"pyservices.{service}"],
                env=env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.running[name] = process
        self.instance_ports[name] = ports
        wait_healthy(ports.health_url(service), 60, process)
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
