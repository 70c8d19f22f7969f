"""The five services and how to reach them: ports, environments, health URLs.

One description shared by `just up` (which hands the processes to honcho) and by the
test harness in `tests/support` (which starts, kills and restarts them one by one).
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, fields

from honcho.environ import parse_procfile

from devstack.infra import REPO, free_port

# Where `just up` keeps its servers' data, and their ports.
STATE_DIR = REPO / ".stack"
# Below Linux's range of ephemeral ports (32768-60999): a client connection that has
# just closed holds its local port in TIME_WAIT for a minute, and RabbitMQ does not
# listen with SO_REUSEADDR. With 55672, `just up` right after `just bench-peers` (many
# connections) failed twice with could_not_start_listener.
POSTGRES_PORT = int(os.environ.get("STACK_POSTGRES_PORT", "27432"))
RABBITMQ_PORT = int(os.environ.get("STACK_RABBITMQ_PORT", "27672"))

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


def wait_healthy(url: str, timeout: float, gone: Callable[[], str | None] = lambda: None) -> None:
    """Until `url` (a /health) answers 200; fails at once when `gone()` says why the
    service will never answer."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if (why := gone()) is not None:
            raise RuntimeError(f"{url}: {why}")
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


def exited(process: subprocess.Popen[bytes]) -> Callable[[], str | None]:
    """For `wait_healthy`: why a service process will never answer, once it has exited."""
    return lambda: None if process.poll() is None else f"exited with {process.returncode}"
