"""Typed view of a ``KVMNode`` (crds/kvmnodes.g8s.io.yaml)."""

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared import fields
from shared.errors import InvalidSpec

CONTROLPLANE = "controlplane"
WORKER = "worker"
ROLES = (CONTROLPLANE, WORKER)

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


@dataclass(frozen=True)
class KVMNodeSpec:
    name: str
    namespace: str
    cluster: str
    role: str
    index: int
    network: str
    kubernetes_version: str
    cpus: int
    memory_mib: int
    disk_gib: int
    service_cidr: ipaddress.IPv4Network
    pod_cidr: ipaddress.IPv4Network
    api_endpoint: str
    drain_timeout: float

    @property
    def is_controlplane(self) -> bool:
        return self.role == CONTROLPLANE


def parse_duration(path: str, text: str) -> float:
    """Seconds of a Go duration such as ``5m`` or ``1h30m`` (what the CRD allows)."""
    position = 0
    total = 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if not text or position != len(text):
        raise InvalidSpec(path, f"must be a duration such as 5m or 90s, got {text!r}")
    return total


def _cidr(body: Mapping[str, Any], path: str, default: str) -> ipaddress.IPv4Network:
    text = fields.string(body, path, default=default)
    try:
        return ipaddress.IPv4Network(text, strict=False)
    except ValueError:
        raise InvalidSpec(path, f"must be an IPv4 CIDR, got {text!r}") from None


def parse(body: Mapping[str, Any]) -> KVMNodeSpec:
    endpoint = fields.at(body, "spec.apiEndpoint", "") or ""
    if not isinstance(endpoint, str) or (endpoint and not endpoint.startswith("https://")):
        raise InvalidSpec("spec.apiEndpoint", f"must be an https URL, got {endpoint!r}")
    return KVMNodeSpec(
        name=fields.string(body, "metadata.name"),
        namespace=fields.string(body, "metadata.namespace"),
        cluster=fields.string(body, "spec.cluster"),
        role=fields.string(body, "spec.role", choices=ROLES),
        index=fields.integer(body, "spec.index", minimum=0, maximum=999),
        network=fields.string(body, "spec.network"),
        kubernetes_version=fields.string(body, "spec.kubernetesVersion", default="1.34.4"),
        cpus=fields.integer(body, "spec.cpus", default=2, minimum=1, maximum=64),
        memory_mib=fields.integer(body, "spec.memoryMiB", default=4096, minimum=256),
        disk_gib=fields.integer(body, "spec.diskGiB", default=20, minimum=1),
        service_cidr=_cidr(body, "spec.serviceCIDR", "172.31.0.0/16"),
        pod_cidr=_cidr(body, "spec.podCIDR", "10.2.0.0/16"),
        api_endpoint=endpoint,
        drain_timeout=parse_duration(
            "spec.drainTimeout", fields.string(body, "spec.drainTimeout", default="5m")
        ),
    )
