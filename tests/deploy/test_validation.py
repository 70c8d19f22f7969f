"""Every deploy file validates offline: Kubernetes manifests against the schemas shipped
in kubernetes-validate, compose against the Compose specification, the Dockerfile
against hadolint. No schema is downloaded at run time."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import kubernetes_validate
import pytest
import yaml

from .manifests import (
    COMPOSE_TEST_SECRET,
    DEPLOY,
    OVERLAYS,
    REPO,
    compose_model,
    render_overlay,
    resolve_compose,
    tool,
)

KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_overlay_renders_to_manifests_valid_against_the_kubernetes_schema(
    overlay: str, version: str
) -> None:
    documents = render_overlay(overlay)
    assert documents
    for document in documents:
        kubernetes_validate.validate(document, version, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_namespaced_object_lands_in_the_binconv_namespace(overlay: str) -> None:
    for document in render_overlay(overlay):
        if document["kind"] != "Namespace":
            assert document["metadata"].get("namespace") == "binconv", document["metadata"]


def test_operator_examples_are_the_objects_the_prod_overlay_reads_from() -> None:
    """The prod overlay reads Secrets of the example clusters' objects: the owner's
    `<cluster>-app` that CloudNativePG writes, the managed roles' password Secrets, and
    the `<user>-user-credentials` the topology operator writes for each User (never the
    RabbitMQ administrator's `<cluster>-default-user`)."""
    objects = [
        doc
        for path in sorted((DEPLOY / "k8s" / "operators").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]
    clusters = {doc["kind"]: doc["metadata"]["name"] for doc in objects}
    roles = [
        role["passwordSecret"]["name"]
        for doc in objects
        if doc["kind"] == "Cluster"
        for role in doc["spec"]["managed"]["roles"]
    ]
    users = [doc["metadata"]["name"] for doc in objects if doc["kind"] == "User"]
    expected_secrets = {
        f"{clusters['Cluster']}-app",
        *roles,
        *(f"{user}-user-credentials" for user in users),
    }
    read = {
        ref["secretKeyRef"]["name"]
        for doc in render_overlay("prod")
        if doc["kind"] in {"Deployment", "Job"}
        for container in _containers(doc)
        for variable in container.get("env", [])
        if (ref := variable.get("valueFrom"))
    }
    assert read == expected_secrets
    urls = [
        variable["value"]
        for doc in render_overlay("prod")
        if doc["kind"] == "Deployment"
        for container in _containers(doc)
        for variable in container.get("env", [])
        if variable["name"] == "RABBITMQ_URL"
    ]
    assert urls and all(f"@{clusters['RabbitmqCluster']}:5672/" in url for url in urls)


def test_compose_file_is_valid_for_compose_itself() -> None:
    done = resolve_compose("config", "-q", AUTH_JWT_SECRET=COMPOSE_TEST_SECRET)
    assert done.returncode == 0, done.stderr


def test_compose_file_validates_against_the_compose_specification_schema() -> None:
    done = subprocess.run(
        [
            tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(DEPLOY / "compose.yaml"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_starts_in_dependency_order_on_health() -> None:
    services = compose_model()["services"]
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            wanted = (
                "service_completed_successfully" if dependency == "migrate" else "service_healthy"
            )
            if dependency in {"prometheus"}:
                continue
            assert condition["condition"] == wanted, (name, dependency)
            if wanted == "service_healthy":
                assert "healthcheck" in services[dependency], dependency


def test_dockerfile_passes_hadolint() -> None:
    done = subprocess.run(
        [tool("hadolint"), str(REPO / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_build_context_holds_everything_the_dockerfile_copies() -> None:
    """.dockerignore starts from nothing; each COPY source must be let back in."""
    allowed = {
        line.removeprefix("!").rstrip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            for source in line.split()[1:-1]:
                assert source.rstrip("/") in allowed, source
                assert (REPO / source).exists(), source
    assert not (REPO / ".dockerignore").read_text().count("!.cargo")


def test_grafana_provisioning_points_at_the_dashboard_and_the_prometheus_source() -> None:
    grafana = DEPLOY / "grafana"
    source = yaml.safe_load((grafana / "provisioning/datasources/prometheus.yaml").read_text())
    provider = yaml.safe_load((grafana / "provisioning/dashboards/binconv.yaml").read_text())
    dashboard = json.loads((grafana / "dashboards/binconv.json").read_text())
    mounts = {
        volume["target"]: volume["source"]
        for volume in compose_model()["services"]["grafana"]["volumes"]
    }
    dashboards_dir = provider["providers"][0]["options"]["path"]
    assert mounts[dashboards_dir] == str(grafana / "dashboards")
    assert source["datasources"][0]["url"] == "http://prometheus:9090"
    variable = dashboard["templating"]["list"][0]
    assert variable["current"]["value"] == source["datasources"][0]["uid"]


def _containers(document: dict[str, Any]) -> list[dict[str, Any]]:
    pod = document["spec"]["template"]["spec"]
    return [*pod.get("initContainers", []), *pod["containers"]]
