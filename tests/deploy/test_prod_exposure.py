"""What the production overlay exposes: one Ingress with TLS at the configured host,
routing only the public ports of the gateway and the WebSocket service (never a metrics
port), no Service of its own on a node or a load balancer, introspection off, the
allowed origins and CORS origins that host, and access control on with an OIDC
provider's keys."""

from __future__ import annotations

from typing import Any

import yaml

from pyservices.common.auth import AuthSettings

from .manifests import DEPLOY, Container, binconv_containers, contract, render_overlay

PROD = DEPLOY / "k8s" / "overlays" / "prod"


def documents(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in render_overlay("prod") if doc["kind"] == kind]


def configured_host() -> str:
    kustomization = yaml.safe_load((PROD / "kustomization.yaml").read_text())
    settings = next(g for g in kustomization["configMapGenerator"] if g["name"] == "prod-settings")
    host: str = next(v.split("=", 1)[1] for v in settings["literals"] if v.startswith("host="))
    return host


def service_container(command: str) -> Container:
    return next(c for c in binconv_containers("prod") if c.command == command)


def test_no_service_listens_on_nodes_or_a_load_balancer() -> None:
    for overlay_service in documents("Service"):
        assert overlay_service["spec"].get("type", "ClusterIP") == "ClusterIP", overlay_service
        assert all("nodePort" not in port for port in overlay_service["spec"]["ports"])


def test_one_ingress_with_tls_at_the_configured_host() -> None:
    (ingress,) = documents("Ingress")
    host = configured_host()
    assert host and "HOST" not in yaml.safe_dump(ingress)
    assert [rule["host"] for rule in ingress["spec"]["rules"]] == [host]
    (tls,) = ingress["spec"]["tls"]
    assert tls["hosts"] == [host] and tls["secretName"]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["cert-manager.io/cluster-issuer"]
    assert annotations["nginx.ingress.kubernetes.io/force-ssl-redirect"] == "true"


def ingress_backends() -> dict[str, tuple[Container, int]]:
    """Each Ingress path -> the container and container port it reaches."""
    (ingress,) = documents("Ingress")
    services = {doc["metadata"]["name"]: doc for doc in documents("Service")}
    containers = binconv_containers("prod")
    found = {}
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            service = services[backend["name"]]
            port = next(
                p
                for p in service["spec"]["ports"]
                if p.get("name") == backend["port"].get("name")
                or p["port"] == backend["port"].get("number")
            )
            (container,) = [
                c
                for c in containers
                if service["spec"]["selector"].items() <= c.pod_labels.items()
                and c.command != "wait-migrated"
            ]
            found[path["path"]] = (container, container.named_port(port["targetPort"]))
    return found


def test_the_ingress_routes_query_to_the_gateway_and_ws_and_graphql_to_the_websocket() -> None:
    routes = {path: c.command for path, (c, _) in ingress_backends().items()}
    assert routes == {"/": "gateway", "/ws": "websocket", "/graphql": "websocket"}


def test_metrics_are_not_reachable_through_the_ingress() -> None:
    """Every routed port is the service's public one, METRICS_PORT is set elsewhere, and
    then the public port answers /metrics with 404 (test_metrics_port.py)."""
    for path, (container, port) in ingress_backends().items():
        served, env = contract(container.command), container.known_env()
        assert env.get("METRICS_PORT"), path
        assert port == served.http_port(env) != served.metrics_port(env), path
    for overlay_service in documents("Service"):
        for port in overlay_service["spec"]["ports"]:
            if overlay_service["metadata"]["name"] in {"gateway", "websocket"}:
                assert port["name"] != "metrics"


def test_introspection_is_off() -> None:
    env = service_container("gateway").known_env()
    assert contract("gateway").setting("graphql_introspection", env) is False


def test_only_the_ingress_host_is_an_allowed_origin() -> None:
    origin = f"https://{configured_host()}"
    assert service_container("gateway").known_env()["CORS_ORIGINS"] == origin
    assert service_container("websocket").known_env()["ALLOWED_ORIGINS"] == origin


def test_access_control_is_on_with_an_oidc_providers_keys() -> None:
    for command in ("gateway", "websocket"):
        env = service_container(command).known_env()
        assert {"AUTH_JWKS_URL", "AUTH_ISSUER", "AUTH_AUDIENCE"} <= contract(command).variables
        settings = AuthSettings(
            auth_jwks_url=env["AUTH_JWKS_URL"],
            auth_issuer=env["AUTH_ISSUER"],
            auth_audience=env["AUTH_AUDIENCE"],
        )
        assert settings.enabled and settings.auth_jwks_url.startswith("https://")
        assert "AUTH_JWT_SECRET" not in env  # no shared secret in production


def test_the_ingress_takes_the_largest_request_the_gateway_takes() -> None:
    (ingress,) = documents("Ingress")
    limit = ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
    assert limit.endswith("m")
    env = service_container("gateway").known_env()
    assert int(limit[:-1]) * 1024 * 1024 >= contract("gateway").setting("max_body_bytes", env)


def test_the_dev_overlay_stays_open_for_a_laptop() -> None:
    """Access control and the Ingress are the production overlay's; dev keeps today's."""
    assert not [doc for doc in render_overlay("dev") if doc["kind"] in {"Ingress", "NetworkPolicy"}]
    for container in binconv_containers("dev"):
        assert "AUTH_JWKS_URL" not in container.env
