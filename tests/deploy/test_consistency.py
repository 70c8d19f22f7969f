"""Compose, Kubernetes and Prometheus agree with what the services really read and
serve: every environment variable set for a service is a field of its settings class,
and every port, probe and scrape target is the port where that service answers."""

from __future__ import annotations

import re
import shlex
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from devstack.stack import SERVICES, Ports
from pyservices.cli import SERVICES as CLI_COMMANDS

from .manifests import (
    DEPLOY,
    MIGRATION_VARIABLES,
    OVERLAYS,
    REPO,
    binconv_containers,
    compose_model,
    contract,
    helper_variables,
    render_overlay,
)


def compose_services() -> dict[str, dict[str, Any]]:
    """Compose services running the binconv image, keyed by the command they run."""
    return {
        name: spec
        for name, spec in compose_model()["services"].items()
        if str(spec.get("image", "")).startswith("binconv:")
    }


def compose_service_for(module: str) -> tuple[str, dict[str, Any]]:
    matches = [(n, s) for n, s in compose_services().items() if s["command"] == [module]]
    assert len(matches) == 1, f"compose runs {module} {len(matches)} times"
    return matches[0]


def test_the_image_entry_point_runs_exactly_the_services_of_the_stack() -> None:
    assert set(CLI_COMMANDS) == set(SERVICES)
    dockerfile = (REPO / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["binconv-service"]' in dockerfile
    assert 'binconv-service = "pyservices.cli:main"' in (REPO / "pyproject.toml").read_text()
    # the migrations ship in the image, where MIGRATIONS_DIR says
    directory = re.search(r"MIGRATIONS_DIR=(\S+)", dockerfile)
    assert directory is not None
    assert f"COPY migrations/ {directory.group(1)}/" in dockerfile


def test_health_ports_are_the_ports_of_the_local_stack(service: str) -> None:
    expected = urlsplit(Ports().health_url(service)).port
    assert contract(service).http_port({}) == expected


# ---- compose


def test_compose_runs_every_service_once_and_migrates_first(service: str) -> None:
    _, spec = compose_service_for(service)
    migrate = [n for n, s in compose_services().items() if s["command"] == ["migrate"]]
    assert len(migrate) == 1
    assert spec["read_only"] is True


def test_compose_sets_only_variables_the_service_reads(service: str) -> None:
    _, spec = compose_service_for(service)
    unknown = set(spec.get("environment", {})) - contract(service).variables
    assert not unknown, f"{service} does not read {sorted(unknown)}"


def test_compose_healthcheck_probes_the_health_endpoint(service: str) -> None:
    _, spec = compose_service_for(service)
    env: dict[str, str] = spec.get("environment", {})
    test = spec["healthcheck"]["test"]
    assert test[:3] == ["CMD", "binconv-service", "probe"]
    url = urlsplit(test[3])
    assert (url.port, url.path) == (contract(service).http_port(env), "/health")


def test_compose_addresses_point_at_the_serving_service() -> None:
    """TASK_SERVICE_ADDR, DATABASE_URL and RABBITMQ_URL name a compose service and the
    port it listens on."""
    services = compose_model()["services"]
    task_name, task_spec = compose_service_for("task_service")
    grpc_port = contract("task_service").setting("task_service_port", task_spec["environment"])
    for name, spec in compose_services().items():
        env = spec.get("environment", {})
        if "TASK_SERVICE_ADDR" in env:
            assert env["TASK_SERVICE_ADDR"] == f"{task_name}:{grpc_port}", name
        if "DATABASE_URL" in env:
            assert urlsplit(env["DATABASE_URL"]).hostname in services, name
        if "RABBITMQ_URL" in env:
            assert urlsplit(env["RABBITMQ_URL"]).hostname in services, name


def test_compose_database_credentials_match_the_postgres_service() -> None:
    postgres = compose_model()["services"]["postgres"]["environment"]
    rabbitmq = compose_model()["services"]["rabbitmq"]["environment"]
    for name, spec in compose_services().items():
        env = spec.get("environment", {})
        if "DATABASE_URL" in env:
            url = urlsplit(env["DATABASE_URL"])
            assert (url.username, url.password, url.path) == (
                postgres["POSTGRES_USER"],
                postgres["POSTGRES_PASSWORD"],
                "/" + postgres["POSTGRES_DB"],
            ), name
        if "RABBITMQ_URL" in env:
            url = urlsplit(env["RABBITMQ_URL"])
            assert (url.username, url.password) == (
                rabbitmq["RABBITMQ_DEFAULT_USER"],
                rabbitmq["RABBITMQ_DEFAULT_PASS"],
            ), name


# ---- Prometheus


def test_prometheus_scrapes_every_service_where_it_serves_metrics() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
        if job.get("metrics_path", "/metrics") == "/metrics"
    }
    expected = set()
    for service in SERVICES:
        name, spec = compose_service_for(service)
        expected.add(f"{name}:{contract(service).metrics_port(spec.get('environment', {}))}")
    assert targets == expected


# ---- Kubernetes


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_runs_every_service_and_the_migration(overlay: str) -> None:
    commands = [c.command for c in binconv_containers(overlay)]
    for service in SERVICES:
        assert commands.count(service) == 1, (overlay, service)
    assert commands.count("migrate") == 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_sets_only_variables_the_program_reads(overlay: str) -> None:
    for container in binconv_containers(overlay):
        if container.command in SERVICES:
            reads = contract(container.command).variables
        else:
            reads = MIGRATION_VARIABLES
        unknown = set(container.env) - reads - helper_variables(container.spec)
        assert not unknown, f"{overlay} {container.command} does not read {sorted(unknown)}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_ports_and_probes_are_where_the_service_answers(overlay: str) -> None:
    for container in binconv_containers(overlay):
        if container.command not in SERVICES:
            continue
        served = contract(container.command)
        env = container.known_env()
        declared = {int(p["containerPort"]) for p in container.spec["ports"]}
        assert declared == served.ports(env), container.command
        ready = container.spec["readinessProbe"]["httpGet"]
        ready_port = served.http_port(env)
        assert container.named_port(ready["port"]) == ready_port
        assert ready["path"] == "/health"  # readiness follows the dependencies
        alive = container.spec["livenessProbe"]["httpGet"]
        assert alive["path"] in {"/metrics", "/health"}
        alive_port = served.metrics_port(env) if alive["path"] == "/metrics" else ready_port
        assert container.named_port(alive["port"]) == alive_port
        annotations = container.workload["spec"]["template"]["metadata"]["annotations"]
        assert int(annotations["prometheus.io/port"]) == served.metrics_port(env)
        assert annotations["prometheus.io/path"] == "/metrics"
        for key in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container.spec["resources"][key])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_services_route_to_the_container_ports(overlay: str) -> None:
    documents = render_overlay(overlay)
    containers = [c for c in binconv_containers(overlay) if c.command in SERVICES]
    for doc in (d for d in documents if d["kind"] == "Service"):
        selector = doc["spec"]["selector"]
        matching = [c for c in containers if selector.items() <= c.pod_labels.items()]
        if not matching:
            continue  # PostgreSQL, RabbitMQ in dev
        assert len(matching) == 1, doc["metadata"]["name"]
        for port in doc["spec"]["ports"]:
            matching[0].named_port(port["targetPort"])  # raises when no such port


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_task_service_address_names_its_service_and_grpc_port(overlay: str) -> None:
    documents = render_overlay(overlay)
    services = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Service"}
    task = next(c for c in binconv_containers(overlay) if c.command == "task_service")
    grpc_port = contract("task_service").setting("task_service_port", task.known_env())
    for container in binconv_containers(overlay):
        address = container.env.get("TASK_SERVICE_ADDR")
        if address is None:
            continue
        host, port = address.rsplit(":", 1)
        service = services[host]
        assert service["spec"]["selector"].items() <= task.pod_labels.items()
        assert int(port) in {p["port"] for p in service["spec"]["ports"]}
        assert int(port) == grpc_port


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_scales_and_protects_the_services(overlay: str) -> None:
    documents = render_overlay(overlay)
    deployments = {d["metadata"]["name"]: d for d in documents if d["kind"] == "Deployment"}
    scaled = {
        d["spec"]["scaleTargetRef"]["name"]
        for d in documents
        if d["kind"] == "HorizontalPodAutoscaler"
    }
    assert scaled <= set(deployments)
    modules = {
        n: d["spec"]["template"]["spec"]["containers"][0]["args"][0]
        for n, d in deployments.items()
        if n in scaled
    }
    assert set(modules.values()) == {"worker", "gateway"}
    budgets = [
        d["spec"]["selector"]["matchLabels"]
        for d in documents
        if d["kind"] == "PodDisruptionBudget"
    ]
    for container in binconv_containers(overlay):
        if container.command in SERVICES:
            assert any(b.items() <= container.pod_labels.items() for b in budgets)


def test_dev_overlay_urls_reach_its_own_postgres_and_rabbitmq() -> None:
    documents = render_overlay("dev")
    services = {d["metadata"]["name"] for d in documents if d["kind"] == "Service"}
    for container in binconv_containers("dev"):
        for key in ("DATABASE_URL", "RABBITMQ_URL"):
            if key in container.env:
                url = container.env[key]
                assert url is not None
                assert urlsplit(url).hostname in services, shlex.quote(url)
