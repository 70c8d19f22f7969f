"""The container engine the test drives: podman (with podman-compose) where it runs,
else docker (with `docker compose`). On podman the base images are the local stand-ins
of scripts/container-images.sh, since no registry may be reachable; docker pulls the
official ones."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "deploy" / "compose.yaml"
DEFAULT_PYTHON_IMAGE = "python:3.11-slim-bookworm"
# Package downloads inside a build on a machine whose HTTPS goes through a proxy of its
# own CA need that CA and the pip settings naming it; elsewhere these are the machine's
# ordinary files, and mounting them changes nothing.
BUILD_MOUNTS = ("/etc/pip.conf", "/etc/ssl/certs/ca-certificates.crt")


class EngineUnavailable(Exception):
    pass


def run(
    command: list[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        command,
        cwd=REPO,
        env=None if env is None else {**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} exited {done.returncode}\n{done.stdout[-4000:]}\n"
            f"{done.stderr[-4000:]}"
        )
    return done


@dataclass
class Engine:
    name: str  # "podman" or "docker"
    compose_command: list[str]
    # base images and published ports, as a user sets them (docs/deploy.md)
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def find(cls) -> Engine:
        """The first engine that can run containers here (BINCONV_CONTAINER_ENGINE picks)."""
        wanted = os.environ.get("BINCONV_CONTAINER_ENGINE")
        reasons = []
        for name in [wanted] if wanted else ["podman", "docker"]:
            if shutil.which(name) is None:
                reasons.append(f"{name} is not installed")
                continue
            info = run([name, "info"], check=False, timeout=60)
            if info.returncode != 0:
                reasons.append(f"`{name} info` fails: {info.stderr.strip()[-300:]}")
                continue
            if name == "podman":
                compose = Path(sys.executable).with_name("podman-compose")
                return cls("podman", [str(compose)])
            return cls("docker", ["docker", "compose"])
        raise EngineUnavailable("; ".join(reasons))

    def stand_in_images(self) -> None:
        """PYTHON_IMAGE, RUST_IMAGE, POSTGRES_IMAGE, RABBITMQ_IMAGE: local stand-ins (podman)."""
        if self.name != "podman":
            return
        done = run(["bash", "scripts/container-images.sh"], timeout=900)
        for line in done.stdout.splitlines():
            variable, _, image = line.partition("=")
            self.env[variable] = image

    def compose(self, project: str, *args: str, timeout: float = 300) -> str:
        prefix = [*self.compose_command]
        if self.name == "podman" and args and args[0] == "build":
            mounts = [f"-v {p}:{p}:ro" for p in BUILD_MOUNTS if Path(p).is_file()]
            prefix.append(f"--podman-build-args={' '.join(mounts)}")
        done = run(
            [*prefix, "-p", project, "-f", str(COMPOSE_FILE), *args],
            env=self.env,
            timeout=timeout,
        )
        return done.stdout

    def container(self, project: str, service: str) -> str:
        """The name of the one container of a compose service."""
        names = self.names("ps", project, f"label=com.docker.compose.service={service}")
        assert len(names) == 1, (service, names)
        return next(iter(names))

    def names(self, kind: str, project: str | None = None, *filters: str) -> set[str]:
        """Names of containers ("ps"), networks or volumes, of one project or all."""
        command = [self.name, kind] if kind != "ps" else [self.name, "ps", "-a"]
        if kind != "ps":
            command.append("ls")
        if project is not None:
            # podman-compose sets compose's own labels too
            command += ["--filter", f"label=com.docker.compose.project={project}"]
        for item in filters:
            command += ["--filter", item]
        command += ["--format", "{{.Name}}" if kind != "ps" else "{{.Names}}"]
        return set(run(command).stdout.split())

    def inspect(self, kind: str, name: str) -> dict[str, Any]:
        data = json.loads(run([self.name, kind, "inspect", name]).stdout)
        return dict(data[0])

    def healthy(self, container: str) -> bool:
        """Whether the compose healthcheck passes now. Podman without systemd runs no
        healthchecks by itself, so it is run on demand; docker reports its own."""
        if self.name == "podman":
            return run([self.name, "healthcheck", "run", container], check=False).returncode == 0
        state = self.inspect("container", container)["State"]
        return bool(state.get("Health", {}).get("Status") == "healthy")

    def wait_healthy(self, containers: Iterable[str], seconds: float) -> None:
        pending = set(containers)
        deadline = time.monotonic() + seconds
        while pending:
            pending = {c for c in pending if not self.healthy(c)}
            if pending and time.monotonic() > deadline:
                logs = {c: self.logs(c) for c in pending}
                raise AssertionError(f"not healthy after {seconds} s: {sorted(pending)}\n{logs}")
            if pending:
                time.sleep(1)

    def logs(self, container: str) -> str:
        done = run([self.name, "logs", "--tail", "30", container], check=False)
        return done.stdout + done.stderr

    def exec(self, container: str, *command: str) -> subprocess.CompletedProcess[str]:
        return run([self.name, "exec", container, *command], check=False)

    def run_to_exit(self, container: str, seconds: float) -> int:
        """Waits for a one-shot container to finish; its exit code."""
        return int(run([self.name, "wait", container], timeout=seconds).stdout.split()[-1])
