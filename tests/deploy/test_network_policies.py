"""The prod overlay's NetworkPolicies against the architecture's list of connections:
every connection on the list is allowed, and nothing else is, between any two of the
pods that matter (the services, the jobs, PostgreSQL and RabbitMQ, the ingress
controller, Prometheus, DNS, the operators, an OpenTelemetry Collector, a stray pod in
the namespace, a pod of another namespace, and the internet), on every port any of
them uses."""

from __future__ import annotations

import functools
import itertools

import pytest

from devstack.stack import SERVICES

from .manifests import binconv_containers, contract, render_overlay
from .netpol import Peer, Policy, allowed

NAMESPACE = "binconv"
TCP, UDP = "TCP", "UDP"

# Pods the overlay does not define, labelled as their operators and charts label them.
POSTGRES = Peer(
    "postgres",
    NAMESPACE,
    "10.244.1.1",
    {"cnpg.io/cluster": "binconv-db", "cnpg.io/instanceRole": "primary"},
    {"postgresql": 5432, "metrics": 9187, "status": 8000},
)
RABBITMQ = Peer(
    "rabbitmq",
    NAMESPACE,
    "10.244.1.2",
    {"app.kubernetes.io/name": "binconv-rabbitmq", "app.kubernetes.io/component": "rabbitmq"},
    {"amqp": 5672, "management": 15672, "prometheus": 15692, "epmd": 4369, "cluster-rpc": 25672},
)
OUTSIDERS = (
    Peer(
        "ingress-controller",
        "ingress-nginx",
        "10.244.2.1",
        {"app.kubernetes.io/name": "ingress-nginx"},
    ),
    Peer("prometheus", "monitoring", "10.244.2.2", {"app.kubernetes.io/name": "prometheus"}),
    Peer("dns", "kube-system", "10.244.2.3", {"k8s-app": "kube-dns"}, {"dns": 53}),
    Peer(
        "cnpg-operator", "cnpg-system", "10.244.2.4", {"app.kubernetes.io/name": "cloudnative-pg"}
    ),
    Peer(
        "topology-operator",
        "rabbitmq-system",
        "10.244.2.5",
        {"app.kubernetes.io/name": "messaging-topology-operator"},
    ),
    Peer(
        "otel-collector",
        "observability",
        "10.244.2.8",
        {"app.kubernetes.io/name": "opentelemetry-collector"},
        {"otlp-http": 4318, "otlp-grpc": 4317},
    ),
    Peer("stray-pod", NAMESPACE, "10.244.2.6", {"app.kubernetes.io/name": "debug"}),
    Peer("other-namespace", "default", "10.244.2.7", {"app.kubernetes.io/name": "gateway"}),
    Peer("kubernetes-api", None, "10.0.0.1"),  # a private control plane
    Peer("internet", None, "203.0.113.7"),  # where the OIDC provider is
)
CLUSTER_INTERNALS = frozenset({53, 80, 443, 6443, 8443})


def policies() -> list[Policy]:
    return [doc for doc in render_overlay("prod") if doc["kind"] == "NetworkPolicy"]


@functools.cache
def workloads() -> dict[str, Peer]:
    """Each Deployment and Job of the overlay as the pod it runs."""
    found = {}
    for number, doc in enumerate(render_overlay("prod")):
        if doc["kind"] not in {"Deployment", "Job"}:
            continue
        pod = doc["spec"]["template"]
        containers = [*pod["spec"].get("initContainers", []), *pod["spec"]["containers"]]
        ports = {p["name"]: p["containerPort"] for c in containers for p in c.get("ports", [])}
        labels = pod["metadata"]["labels"]
        name = labels["app.kubernetes.io/name"]
        found[name] = Peer(name, NAMESPACE, f"10.244.0.{number}", labels, ports)
    return found


def peers() -> dict[str, Peer]:
    return {peer.name: peer for peer in (*workloads().values(), POSTGRES, RABBITMQ, *OUTSIDERS)}


def architecture() -> set[tuple[str, str, int, str]]:
    """The connections the system needs: (from, to, port, protocol)."""
    needed = {
        ("ingress-controller", "gateway", 8080, TCP),
        ("ingress-controller", "websocket", 8082, TCP),
        ("gateway", "task-service", 50051, TCP),
        ("worker", "task-service", 50051, TCP),
        ("websocket", "task-service", 50051, TCP),  # the subscription's task lookup
        ("gateway", "internet", 443, TCP),  # the OIDC provider's keys, not the cluster
        ("websocket", "internet", 443, TCP),
        ("task-service", "postgres", 5432, TCP),
        ("publisher", "postgres", 5432, TCP),
        ("migrate", "postgres", 5432, TCP),
        ("db-grants", "postgres", 5432, TCP),
        ("publisher", "rabbitmq", 5672, TCP),
        ("worker", "rabbitmq", 5672, TCP),
        ("websocket", "rabbitmq", 5672, TCP),
        # the data stores among themselves, with their operators, and the Kubernetes API
        ("postgres", "postgres", 5432, TCP),
        ("cnpg-operator", "postgres", 8000, TCP),
        ("rabbitmq", "rabbitmq", 4369, TCP),
        ("rabbitmq", "rabbitmq", 25672, TCP),
        *(("rabbitmq", "rabbitmq", port, TCP) for port in range(35672, 35683)),
        ("topology-operator", "rabbitmq", 15672, TCP),
        ("prometheus", "postgres", 9187, TCP),
        ("prometheus", "rabbitmq", 15692, TCP),
    }
    for container in binconv_containers("prod"):
        if container.command in SERVICES:
            port = contract(container.command).metrics_port(container.known_env())
            name = container.pod_labels["app.kubernetes.io/name"]
            needed.add(("prometheus", name, port, TCP))
            needed.add((name, "otel-collector", 4318, TCP))  # spans, OTLP over HTTP
    for name, peer in peers().items():
        if peer.namespace == NAMESPACE:  # any pod of the namespace may resolve names
            needed |= {(name, "dns", 53, UDP), (name, "dns", 53, TCP)}
        # The data stores' own processes talk to the Kubernetes API, whose address
        # differs per cluster: they may reach any address outside the namespace on its
        # ports (inside, the pods' own policies refuse).
        if peer.namespace != NAMESPACE:
            for store in ("postgres", "rabbitmq"):
                needed |= {(store, name, 443, TCP), (store, name, 6443, TCP)}
    return needed


def probed_ports() -> set[int]:
    ports = set(CLUSTER_INTERNALS)
    for peer in peers().values():
        ports |= set(peer.ports.values())
    for policy in policies():
        for rule in [*policy["spec"].get("ingress", []), *policy["spec"].get("egress", [])]:
            for entry in rule.get("ports", []):
                if isinstance(entry.get("port"), int):
                    ports |= set(range(entry["port"], entry.get("endPort", entry["port"]) + 1))
    return ports


def allowed_connections() -> set[tuple[str, str, int, str]]:
    """Every connection the policies let through where they decide (one end in the
    namespace: traffic between two outside pods is not this overlay's business)."""
    found = set()
    rules = policies()
    everyone = peers()
    for (a, source), (b, destination) in itertools.product(everyone.items(), repeat=2):
        if NAMESPACE not in (source.namespace, destination.namespace):
            continue
        for port in probed_ports():
            for protocol in (TCP, UDP):
                if allowed(rules, source, destination, port, protocol):
                    found.add((a, b, port, protocol))
    return found


def test_the_architecture_names_only_pods_that_exist() -> None:
    names = set(peers())
    for source, destination, _, _ in architecture():
        assert {source, destination} <= names
    assert {"gateway", "websocket", "task-service", "publisher", "worker", "migrate"} <= names


def test_every_needed_connection_is_allowed() -> None:
    missing = architecture() - allowed_connections()
    assert not missing, f"blocked: {sorted(missing)}"


def test_nothing_else_is_allowed() -> None:
    extra = allowed_connections() - architecture()
    assert not extra, f"allowed beyond the architecture: {sorted(extra)[:20]}"


def test_every_pod_of_the_namespace_is_denied_by_default() -> None:
    deny = [
        p
        for p in policies()
        if p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert len(deny) == 1


@pytest.mark.parametrize("name", ["gateway", "websocket", "task-service", "publisher", "worker"])
def test_metrics_ports_are_open_to_prometheus_only(name: str) -> None:
    everyone = peers()
    service = everyone[name]
    metrics = service.ports["metrics"]
    for peer in everyone.values():
        assert allowed(policies(), peer, service, metrics) == (peer.name == "prometheus"), peer
