"""The local stack's description agrees with itself (Procfile, services, ports) and stays
out of the wheel."""

from __future__ import annotations

import re
import tomllib

from devstack.infra import REPO
from devstack.stack import SERVICES, Ports, procfile_commands, service_environment


def test_the_procfile_runs_each_service_package_once() -> None:
    commands = procfile_commands()

    assert sorted(commands) == sorted(SERVICES)
    assert all(command == f"python -m pyservices.{name}" for name, command in commands.items())


def test_each_service_gets_the_metrics_port_its_health_url_uses() -> None:
    ports = Ports.free()
    for service in ("task_service", "publisher", "worker"):
        env = service_environment(service, ports, "postgresql://db", "amqp://mq")
        assert ports.health_url(service) == f"http://127.0.0.1:{env['METRICS_PORT']}/health"


def test_the_wheel_holds_only_the_services_and_the_kernel() -> None:
    maturin = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["maturin"]

    assert maturin["python-packages"] == ["pyservices"]
    assert maturin["module-name"] == "binconv._binconv"


def test_no_service_imports_the_dev_stack_or_the_tests() -> None:
    # Neither is in the image: such an import would fail only once deployed.
    dev_only = re.compile(r"^\s*(from|import)\s+(devstack|tests|bench)\b", re.MULTILINE)

    offenders = [
        str(path.relative_to(REPO))
        for path in (REPO / "pyservices").rglob("*.py")
        if dev_only.search(path.read_text())
    ]

    assert offenders == []
