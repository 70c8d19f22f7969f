"""The documented maximum request, and what each service may use while it flows.

`maximum_messages` builds one request at the limits (1,000 messages of 64 KiB of UTF-8,
each with multi-byte characters, so a wrong conversion shows); `send_maximum` sends it
selecting only ids, as a client that does not need its own messages back would. The
memory limits are read from the Kubernetes manifests, so the test holds the services
to what is deployed, and each service's peak RSS is its kernel-kept high-water mark.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import httpx
import yaml

from devstack.infra import REPO
from pyservices.task_service.settings import TaskServiceSettings
from tests.support.client import send_task_mutation

_DEFAULTS = TaskServiceSettings()
MAX_MESSAGES = _DEFAULTS.max_messages
MAX_MESSAGE_BYTES = _DEFAULTS.max_message_bytes
# Only ids: a client that does not need its 64 MiB of messages back asks for none.
SEND_IDS = send_task_mutation("id")

# The Kubernetes manifest of each service of the local stack.
MANIFESTS = {
    "gateway": "gateway.yaml",
    "task_service": "task-service.yaml",
    "publisher": "publisher.yaml",
    "worker": "worker.yaml",
    "websocket": "websocket.yaml",
}
_UNITS = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024}


def maximum_messages(label: str, count: int = MAX_MESSAGES) -> list[str]:
    """`count` distinct messages of exactly MAX_MESSAGE_BYTES of UTF-8."""
    messages = []
    for number in range(count):
        head = f"{label} {number} é 🦀 日本 "
        messages.append(head + "x" * (MAX_MESSAGE_BYTES - len(head.encode())))
    return messages


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def send_maximum(
    http: httpx.AsyncClient, url: str, messages: list[str], seconds: float = 120
) -> dict[str, str]:
    """Send one request; returns the stored tasks (id -> SHA-256 of the message)."""
    response = await http.post(
        url, json={"query": SEND_IDS, "variables": {"m": messages}}, timeout=seconds
    )
    body = response.json()
    assert response.status_code == 200 and not body.get("errors"), body.get("errors")
    ids = [task["id"] for task in body["data"]["sendTask"]]
    return {task_id: digest(message) for task_id, message in zip(ids, messages, strict=True)}


def memory_limits_mib() -> dict[str, float]:
    """Each service's container memory limit in deploy/k8s/base, in MiB."""
    limits = {}
    for service, manifest in MANIFESTS.items():
        documents = yaml.safe_load_all((REPO / "deploy/k8s/base" / manifest).read_text())
        for document in documents:
            if not document or document.get("kind") != "Deployment":
                continue
            container = document["spec"]["template"]["spec"]["containers"][0]
            limits[service] = _mib(container["resources"]["limits"]["memory"])
    return limits


def _mib(quantity: str) -> float:
    for suffix, factor in _UNITS.items():
        if quantity.endswith(suffix):
            return float(quantity[: -len(suffix)]) * factor
    return float(quantity) / (1024 * 1024)


def peak_rss_mib(processes: dict[str, subprocess.Popen[bytes]]) -> dict[str, float]:
    """The peak resident memory of each running process (VmHWM), in MiB."""
    return {name: status_mib(process.pid, "VmHWM") for name, process in processes.items()}


def status_mib(pid: int, field: str) -> float:
    """A memory figure of /proc/<pid>/status (VmRSS, VmHWM, ...) in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise LookupError(f"no {field} for process {pid}")


def over_limit(peaks: dict[str, float], limits: dict[str, float]) -> dict[str, str]:
    """The processes whose peak passed their service's limit, with both figures."""
    return {
        name: f"{peak:.0f} MiB > {limits[name.split('-')[0]]:.0f} MiB"
        for name, peak in peaks.items()
        if peak > limits[name.split("-")[0]]
    }
