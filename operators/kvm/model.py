"""Typed view of a ``KVMNode`` (crds/kvmnodes.g8s.io.yaml)."""

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared import fields
from shared.errors import InvalidSpec

CONTROLPLANE = "controlplane"
WORKER = "worker"
ROLES = (CONTROLPLANE, WORKER)


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
        drain_timeout=fields.duration(body, "spec.drainTimeout", default="5m"),
    )
