"""Tracing is a setting wherever the services run (docs/tracing.md): off by default, one
endpoint and sampler for all five services, and a trace backend in compose only with the
`tracing` profile."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devstack.stack import SERVICES

from .manifests import (
    COMPOSE_TEST_SECRET,
    OVERLAYS,
    binconv_containers,
    compose_model,
    render_overlay,
    resolve_compose,
)

ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
JAEGER_OTLP = "http://jaeger:4318"


def _compose(*args: str, **env: str) -> dict[str, Any]:
    done = resolve_compose(
        *args, "config", "--format", "json", AUTH_JWT_SECRET=COMPOSE_TEST_SECRET, **env
    )
    assert done.returncode == 0, done.stderr
    model: dict[str, Any] = json.loads(done.stdout)
    return model


def _service_environments(model: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {
        spec["command"][0]: spec.get("environment", {})
        for spec in model["services"].values()
        if str(spec.get("image", "")).startswith("binconv:") and spec["command"] != ["migrate"]
    }


def test_compose_traces_nothing_and_runs_no_backend_by_default() -> None:
    model = compose_model()
    environments = _service_environments(model)

    assert sorted(environments) == sorted(SERVICES)
    assert all(env[ENDPOINT] == "" for env in environments.values())
    assert "jaeger" not in model["services"]


def test_compose_with_the_tracing_profile_sends_every_service_to_jaeger() -> None:
    model = _compose(
        "--profile",
        "tracing",
        OTEL_EXPORTER_OTLP_ENDPOINT=JAEGER_OTLP,
        OTEL_TRACES_SAMPLER="parentbased_traceidratio",
        OTEL_TRACES_SAMPLER_ARG="0.01",
    )
    jaeger = model["services"]["jaeger"]

    for service, env in _service_environments(model).items():
        assert env[ENDPOINT] == JAEGER_OTLP, service
        assert env["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio", service
        assert env["OTEL_TRACES_SAMPLER_ARG"] == "0.01", service
    image, tag = jaeger["image"].rsplit(":", 1)
    assert image == "jaegertracing/all-in-one" and tag[0].isdigit()  # pinned, not latest
    assert "4318" in {str(port) for port in jaeger.get("expose", [])}
    # the UI on the loopback only; OTLP stays inside the compose network
    assert [(p["host_ip"], p["target"]) for p in jaeger["ports"]] == [("127.0.0.1", 16686)]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_gives_every_service_the_tracing_settings_off_by_default(
    overlay: str,
) -> None:
    services = [c for c in binconv_containers(overlay) if c.command in SERVICES]

    assert sorted(c.command for c in services) == sorted(SERVICES)
    for container in services:
        assert container.env[ENDPOINT] == "", container.command
        assert container.env["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
        assert container.env["OTEL_TRACES_SAMPLER_ARG"] == "1.0"
    others = [c for c in binconv_containers(overlay) if c.command not in SERVICES]
    assert others and all(ENDPOINT not in c.env for c in others)  # the jobs do not trace


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_websocket_service_reaches_the_task_service_for_its_subscriptions(
    overlay: str,
) -> None:
    websocket = next(c for c in binconv_containers(overlay) if c.command == "websocket")
    gateway = next(c for c in binconv_containers(overlay) if c.command == "gateway")

    assert websocket.env["TASK_SERVICE_ADDR"] == gateway.env["TASK_SERVICE_ADDR"]
    compose = _service_environments(compose_model())
    assert compose["websocket"]["TASK_SERVICE_ADDR"] == compose["gateway"]["TASK_SERVICE_ADDR"]


def test_the_collector_policy_covers_exactly_the_five_services() -> None:
    policy = next(
        doc
        for doc in render_overlay("prod")
        if doc["kind"] == "NetworkPolicy" and doc["metadata"]["name"] == "otel-collector"
    )
    selected = policy["spec"]["podSelector"]["matchExpressions"][0]["values"]

    assert sorted(selected) == sorted(name.replace("_", "-") for name in SERVICES)
    assert policy["spec"]["egress"][0]["ports"] == [{"protocol": "TCP", "port": 4318}]
