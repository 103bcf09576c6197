"""Typed view of a ``Cluster``."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared import fields


@dataclass(frozen=True)
class ClusterSpec:
    name: str
    namespace: str
    kubernetes_version: str
    base_domain: str
    control_plane_replicas: int
    worker_replicas: int
    etcd_replicas: int


def parse(body: Mapping[str, Any]) -> ClusterSpec:
    return ClusterSpec(
        name=fields.string(body, "metadata.name"),
        namespace=fields.string(body, "metadata.namespace"),
        kubernetes_version=fields.string(body, "spec.kubernetesVersion"),
        base_domain=fields.string(body, "spec.baseDomain"),
        control_plane_replicas=fields.integer(body, "spec.controlPlane.replicas", minimum=1),
        worker_replicas=fields.integer(body, "spec.workers.replicas", minimum=0),
        etcd_replicas=fields.integer(body, "spec.etcd.replicas", minimum=1),
    )
