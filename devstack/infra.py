"""PostgreSQL and RabbitMQ as the project's own local processes.

Each server gets its own data directory and port and listens on loopback only, so a
server already on the machine is never disturbed. Used by `just up` and by the tests,
which give each run a temporary directory and free ports.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

REPO = Path(__file__).resolve().parents[1]


_PORTS_GIVEN: set[int] = set()


def free_port() -> int:
    """A port nothing listens on now, and never one this process handed out before: the
    kernel may give a just-closed port again, and two services of one stack then got
    the same one (the second could not listen, the first answered both health checks,
    and the page was the other service's "Not Found")."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _PORTS_GIVEN:
            _PORTS_GIVEN.add(port)
            return port


class LocalServer(Protocol):
    base_dir: Path
    port: int

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def url(self) -> str: ...


Server = TypeVar("Server", bound=LocalServer)


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    """The server started, and stopped at the end of the block."""
    server.start()
    try:
        yield server
    finally:
        server.stop()


def wait_for_port(
    port: int, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"process exited with {process.returncode} before port {port} opened"
            )
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def _as_unprivileged() -> dict[str, str]:
    """PostgreSQL refuses to run as root; as root, run it as the `postgres` user."""
    return {"user": "postgres", "group": "postgres"} if os.geteuid() == 0 else {}


def _pg_bin(name: str) -> str:
    for candidate in sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True):
        return candidate
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(
            f"{name} not found: install PostgreSQL (apt-get install postgresql)"
        )
    return found


def _let_postgres_reach(path: Path) -> None:
    """The `postgres` user needs to traverse every parent of its data directory."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


@dataclass
class LocalPostgres:
    base_dir: Path
    port: int
    user: str = "binconv"
    database: str = "binconv"

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    def url(self, database: str | None = None) -> str:
        return (
            f"postgresql://{self.user}@127.0.0.1:{self.port}/{database or self.database}"
            "?sslmode=disable"
        )

    def start(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            _let_postgres_reach(self.base_dir)
            shutil.chown(self.base_dir, "postgres", "postgres")
        run = _as_unprivileged()
        if not (self.data_dir / "PG_VERSION").exists():
            subprocess.run(
                [
                    _pg_bin("initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    self.user,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ],
                check=True,
                capture_output=True,
                **run,  # type: ignore[call-overload]
            )
        self.stop()  # a server left behind by a killed run
        options = (
            f"-p {self.port} -k {self.base_dir} -c listen_addresses=127.0.0.1 "
            "-c max_connections=300"
        )
        subprocess.run(
            [
                _pg_bin("pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.base_dir / "postgres.log"),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=True,
            capture_output=True,
            **run,  # type: ignore[call-overload]
        )
        subprocess.run(
            [
                _pg_bin("createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self.user,
                self.database,
            ],
            capture_output=True,  # fails harmlessly when it exists
        )

    def create_database(self, name: str) -> str:
        subprocess.run(
            [_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name],
            check=True,
            capture_output=True,
        )
        return self.url(name)

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            subprocess.run(
                [_pg_bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
                capture_output=True,
                **_as_unprivileged(),  # type: ignore[call-overload]
            )


@dataclass
class LocalRabbitMQ:
    base_dir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    # Erlang distribution port: its own free port (AMQP port + 10000 may pass 65535).
    dist_port: int = field(default_factory=free_port)

    @property
    def node(self) -> str:
        return f"binconv{self.port}@localhost"

    def url(self, vhost: str = "") -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/{vhost}"

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.base_dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base_dir / "log"),
            # Its own config, so /etc/rabbitmq/rabbitmq.conf cannot move the listener.
            "RABBITMQ_CONFIG_FILE": str(self.base_dir / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base_dir / "enabled_plugins"),
        }

    def start(self) -> None:
        server = "/usr/lib/rabbitmq/bin/rabbitmq-server"
        if not Path(server).exists():
            raise FileNotFoundError("RabbitMQ not found: apt-get install rabbitmq-server")
        for sub in ("mnesia", "log"):
            (self.base_dir / sub).mkdir(parents=True, exist_ok=True)
        (self.base_dir / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            "log.console = false\nlog.file.level = warning\n"
        )
        (self.base_dir / "enabled_plugins").write_text("[].\n")
        self.ctl("shutdown", check=False)  # a node left behind by a killed run
        self.process = subprocess.Popen(
            [server],
            env=self._env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for_port(self.port, 60, self.process)

    def ctl(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(
            ["/usr/lib/rabbitmq/bin/rabbitmqctl", "-n", self.node, *args],
            env=self._env(),
            check=check,
            capture_output=True,
        )
        return done.stdout.decode()

    def list_queues(self, vhost: str, *columns: str) -> list[dict[str, Any]]:
        """Each queue of `vhost` with the `columns` rabbitmqctl list_queues knows."""
        listed = self.ctl("list_queues", "-p", vhost, "--formatter", "json", *columns)
        return list(json.loads(listed))

    def queue_depths(self, vhost: str) -> dict[str, tuple[int, int]]:
        """Each queue of `vhost`: (messages ready, messages unacknowledged)."""
        listed = self.list_queues(vhost, "name", "messages_ready", "messages_unacknowledged")
        return {
            queue["name"]: (queue["messages_ready"], queue["messages_unacknowledged"])
            for queue in listed
        }

    def create_vhost(self, name: str) -> str:
        self.ctl("add_vhost", name)
        self.ctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        return self.url(name)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None
