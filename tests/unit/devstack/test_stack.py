"""The local stack's description agrees with itself: Procfile, services, ports."""

from __future__ import annotations

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
