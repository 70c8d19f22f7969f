"""What the deploy tests read: the rendered Kubernetes overlays, the resolved compose
model, and what each service really reads and serves (its settings class).

Nothing here is a hand-kept list of ports or variables: the manifests are compared with
the services' own pydantic settings and with the local stack's `Ports`.
"""

from __future__ import annotations

import base64
import functools
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter
from pydantic_settings import BaseSettings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
OVERLAYS = ("dev", "prod")
VENV_BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """A command-line tool from the virtualenv (or PATH); skip, naming it, when absent."""
    beside = VENV_BIN / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]' installs it)")
    return found


@functools.cache
def render_overlay(overlay: str) -> tuple[dict[str, Any], ...]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: it renders the kustomize overlays")
    done = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY / "k8s" / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


# What a user sets before `compose up` (docs/deploy.md): the secret has no default.
COMPOSE_TEST_SECRET = "compose-test-secret-" + "0" * 44
# The file's own defaults, not the caller's environment.
COMPOSE_DEFAULTED = (
    "POSTGRES_PASSWORD",
    "RABBITMQ_PASSWORD",
    "LOG_LEVEL",
    "ALLOWED_ORIGINS",
    "CORS_ORIGINS",
    "GATEWAY_PUBLISHED_PORT",
    "AUTH_JWT_SECRET",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "JAEGER_IMAGE",
    "JAEGER_PUBLISHED_PORT",
)


def resolve_compose(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`docker-compose -f deploy/compose.yaml ARGS` with the file's defaults and `env`."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("COMPOSE_") and key not in COMPOSE_DEFAULTED
    }
    # --env-file: not a deploy/.env the user keeps their secret in (docs/deploy.md)
    return subprocess.run(
        [
            tool("docker-compose"),
            "--env-file",
            os.devnull,
            "-f",
            str(DEPLOY / "compose.yaml"),
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
        env={**environment, **env},
        timeout=60,
    )


def compose_model_with(**env: str) -> dict[str, Any]:
    """The compose file as Compose itself resolves it (anchors, merges, defaults)."""
    done = resolve_compose("config", "--format", "json", **env)
    assert done.returncode == 0, done.stderr
    model: dict[str, Any] = json.loads(done.stdout)
    return model


@functools.cache
def compose_model() -> dict[str, Any]:
    """The compose model with nothing set but the secret it requires."""
    return compose_model_with(AUTH_JWT_SECRET=COMPOSE_TEST_SECRET)


# Read by every service through the OpenTelemetry SDK, not its settings class
# (pyservices/common/tracing.py, docs/tracing.md).
TRACING_VARIABLES = frozenset(
    {
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_TRACES_SAMPLER",
        "OTEL_TRACES_SAMPLER_ARG",
        "OTEL_SERVICE_NAME",
        "OTEL_SDK_DISABLED",
    }
)


@dataclass(frozen=True)
class ServiceContract:
    """What one service reads (its settings fields) and serves (ports, given its env)."""

    module: str
    settings: type[BaseSettings]

    @property
    def variables(self) -> frozenset[str]:
        return frozenset(name.upper() for name in self.settings.model_fields) | TRACING_VARIABLES

    def setting(self, name: str, env: dict[str, str]) -> Any:
        field = self.settings.model_fields[name]
        raw = env.get(name.upper())
        if raw is None:
            return field.default
        return TypeAdapter(Any if field.annotation is None else field.annotation).validate_python(
            raw
        )

    def http_port(self, env: dict[str, str]) -> int:
        """The port of /health (and of /metrics, unless `metrics_port` says otherwise)."""
        field = {"gateway": "gateway_port", "websocket": "websocket_port"}.get(
            self.module, "metrics_port"
        )
        return int(self.setting(field, env))

    def metrics_port(self, env: dict[str, str]) -> int:
        """The port of /metrics: the gateway and the WebSocket service move it off their
        public port when METRICS_PORT is set."""
        own = self.setting("metrics_port", env)
        return self.http_port(env) if own is None else int(own)

    def ports(self, env: dict[str, str]) -> set[int]:
        served = {self.http_port(env), self.metrics_port(env)}
        if self.module == "task_service":
            served.add(int(self.setting("task_service_port", env)))
        return served


@functools.cache
def contract(module: str) -> ServiceContract:
    settings_module = importlib.import_module(f"pyservices.{module}.settings")
    classes = [
        value
        for value in vars(settings_module).values()
        if isinstance(value, type)
        and issubclass(value, BaseSettings)
        and value.__module__ == settings_module.__name__
    ]
    assert len(classes) == 1, f"{module}: expected one settings class, found {classes}"
    return ServiceContract(module, classes[0])


# Kubernetes: the binconv containers of a rendered overlay, with their environment.

MIGRATION_VARIABLES = frozenset({"DATABASE_URL", "MIGRATIONS_DIR"})  # read by `migrate`


@dataclass(frozen=True)
class Container:
    workload: dict[str, Any]
    spec: dict[str, Any]
    env: dict[str, str | None]  # None: a value from a Secret the overlay does not hold

    @property
    def command(self) -> str:
        return str(self.spec["args"][0])

    @property
    def pod_labels(self) -> dict[str, str]:
        labels: dict[str, str] = self.workload["spec"]["template"]["metadata"]["labels"]
        return labels

    def named_port(self, port: int | str) -> int:
        if isinstance(port, int):
            return port
        return next(int(p["containerPort"]) for p in self.spec["ports"] if p["name"] == port)

    def known_env(self) -> dict[str, str]:
        return {key: value for key, value in self.env.items() if value is not None}


def _by_kind_name(documents: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in documents if doc["kind"] == kind}


def _container_env(
    spec: dict[str, Any], documents: tuple[dict[str, Any], ...]
) -> dict[str, str | None]:
    config_maps = _by_kind_name(documents, "ConfigMap")
    secrets = _by_kind_name(documents, "Secret")
    env: dict[str, str | None] = {}
    for source in spec.get("envFrom", []):
        if "configMapRef" in source:
            env.update(config_maps[source["configMapRef"]["name"]]["data"])
        else:
            secret = secrets[source["secretRef"]["name"]]
            env.update({k: base64.b64decode(v).decode() for k, v in secret["data"].items()})
    for variable in spec.get("env", []):
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        elif "secretKeyRef" in variable["valueFrom"]:
            ref = variable["valueFrom"]["secretKeyRef"]
            named = secrets.get(ref["name"])
            raw = named["data"][ref["key"]] if named else None
            env[variable["name"]] = base64.b64decode(raw).decode() if raw else None
        else:
            ref = variable["valueFrom"]["configMapKeyRef"]
            env[variable["name"]] = config_maps[ref["name"]]["data"][ref["key"]]
    return env


def binconv_containers(overlay: str) -> list[Container]:
    """Every container that runs the binconv image, init containers included."""
    documents = render_overlay(overlay)
    found = []
    for doc in documents:
        if doc["kind"] not in {"Deployment", "Job", "StatefulSet"}:
            continue
        pod = doc["spec"]["template"]["spec"]
        for spec in [*pod.get("initContainers", []), *pod["containers"]]:
            if spec["image"].rsplit("/", 1)[-1].startswith("binconv:"):
                found.append(Container(doc, spec, _container_env(spec, documents)))
    return found


def helper_variables(spec: dict[str, Any]) -> set[str]:
    """Variables only there to be expanded as $(NAME) inside another variable's value."""
    values = " ".join(str(v.get("value", "")) for v in spec.get("env", []))
    return {v["name"] for v in spec.get("env", []) if f"$({v['name']})" in values}


# The dashboard: the metric series its panels query.

DASHBOARD = DEPLOY / "grafana" / "dashboards" / "binconv.json"
# Series Prometheus makes itself for every target, not exported by a service.
PROMETHEUS_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})
_SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}


def dashboard_queries() -> dict[str, list[str]]:
    """Each panel's title and its PromQL expressions."""
    dashboard = json.loads(DASHBOARD.read_text())
    return {
        panel["title"]: [target["expr"] for target in panel.get("targets", [])]
        for panel in dashboard["panels"]
        if panel["type"] != "row"
    }


def queried_series(expression: str) -> set[str]:
    """The metric names a PromQL expression selects (binconv_* and Prometheus' own)."""
    names = {match for match in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expression)}
    return {name for name in names if name.startswith("binconv_") or name in PROMETHEUS_SERIES}


def sample_names(families: Iterable[Any]) -> set[str]:
    """The series names a set of prometheus_client metric families can expose."""
    return {
        family.name + suffix
        for family in families
        for suffix in _SAMPLE_SUFFIXES.get(family.type, ("",))
    }
