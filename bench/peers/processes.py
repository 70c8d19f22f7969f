"""Child processes of the peer systems: Redis and each system's workers, in their own
session so a stop reaches every process they forked, and the pid of a running
PostgreSQL's postmaster for the CPU readings."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from devstack.infra import REPO, LocalPostgres, wait_for_port


def postmaster_pid(postgres: LocalPostgres) -> int:
    return int((postgres.data_dir / "postmaster.pid").read_text().split()[0])


@dataclass
class Child:
    """One command run in its own session, its output in `log`."""

    command: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                self.command,
                env={**os.environ, **self.env},
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def check(self) -> None:
        """Raises when the process has exited, with the end of its log."""
        if self.process is not None and self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.command[:4]} exited with {self.process.returncode}:\n{tail}")

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def redis(base: Path, port: int) -> Child:
    """Debian's redis-server on loopback, in memory only (no snapshots, no append-only
    file): the way Dramatiq's results are usually kept, and nothing durable."""
    server = shutil.which("redis-server")
    if server is None:
        raise FileNotFoundError("redis-server not found: apt-get install redis-server")
    base.mkdir(parents=True, exist_ok=True)
    command = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--dir", str(base), "--daemonize", "no"]
    return Child(command, base / "redis.log")


def start_redis(base: Path, port: int) -> Child:
    child = redis(base, port)
    child.start()
    wait_for_port(port, 30, child.process)
    return child
