"""Kubernetes NetworkPolicy semantics, enough to ask of a set of policies: may this pod
open a connection to that pod on this port?

A connection needs both ends to let it through: the source's Egress (when a policy of
its namespace selects it for Egress, one of their rules must allow it) and the
destination's Ingress (likewise). Rules allow the union of what they list; an empty
`from`/`to` is everyone, an empty `ports` every port; a named port is the destination
container's port of that name. An ipBlock is matched against every peer's address,
pods' too (whether it matches pod addresses is up to the network plugin, so the stricter
reading); addresses outside the cluster are peers without a namespace.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Policy = Mapping[str, Any]


@dataclass(frozen=True)
class Peer:
    name: str
    namespace: str | None  # None: an address outside the cluster
    ip: str
    labels: Mapping[str, str] = field(default_factory=dict)
    ports: Mapping[str, int] = field(default_factory=dict)  # named container ports

    @property
    def namespace_labels(self) -> dict[str, str]:
        return {} if self.namespace is None else {"kubernetes.io/metadata.name": self.namespace}


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def _matches_peer(rule_peer: Mapping[str, Any], policy_namespace: str, peer: Peer) -> bool:
    if "ipBlock" in rule_peer:
        block, address = rule_peer["ipBlock"], ipaddress.ip_address(peer.ip)
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(cidr) for cidr in block.get("except", [])
        )
    if peer.namespace is None:
        return False
    namespaces = rule_peer.get("namespaceSelector")
    in_namespace = (
        peer.namespace == policy_namespace
        if namespaces is None
        else selects(namespaces, peer.namespace_labels)
    )
    return in_namespace and selects(rule_peer.get("podSelector", {}), peer.labels)


def _matches_port(
    rule_ports: Iterable[Mapping[str, Any]], port: int, protocol: str, destination: Peer
) -> bool:
    listed = list(rule_ports)
    if not listed:
        return True
    for entry in listed:
        if entry.get("protocol", "TCP") != protocol:
            continue
        if "port" not in entry:
            return True
        value = entry["port"]
        if isinstance(value, str):
            if destination.ports.get(value) == port:
                return True
        elif value <= port <= entry.get("endPort", value):
            return True
    return False


def _applies(policy: Policy, peer: Peer, direction: str) -> bool:
    return (
        peer.namespace == policy["metadata"]["namespace"]
        and direction in policy["spec"].get("policyTypes", ["Ingress"])
        and selects(policy["spec"]["podSelector"], peer.labels)
    )


def _side_allows(
    policies: Iterable[Policy],
    subject: Peer,
    other: Peer,
    direction: str,
    port: int,
    protocol: str,
    destination: Peer,
) -> bool:
    """Whether `subject`'s own policies let the connection through in `direction`."""
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    isolated = False
    for policy in policies:
        if not _applies(policy, subject, direction):
            continue
        isolated = True
        namespace = policy["metadata"]["namespace"]
        for rule in policy["spec"].get(key, []):
            peers = rule.get(peers_key, [])
            if peers and not any(_matches_peer(p, namespace, other) for p in peers):
                continue
            if _matches_port(rule.get("ports", []), port, protocol, destination):
                return True
    return not isolated


def allowed(
    policies: Iterable[Policy], source: Peer, destination: Peer, port: int, protocol: str = "TCP"
) -> bool:
    policies = list(policies)
    return _side_allows(
        policies, source, destination, "Egress", port, protocol, destination
    ) and _side_allows(policies, destination, source, "Ingress", port, protocol, destination)
