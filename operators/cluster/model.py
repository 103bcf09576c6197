"""Typed view of a ``Cluster`` (docs/design.md#the-cluster-resource).

The CRD defaults and validates every field; ``parse`` still checks types and
ranges so that an object written before a CRD change is reported, not crashed on.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared import fields
from shared.api.names import MAX_CLUSTER_NAME
from shared.errors import InvalidSpec

CONTROLPLANE = "controlplane"
WORKER = "worker"
ROLES = (CONTROLPLANE, WORKER)


@dataclass(frozen=True)
class ClusterRef:
    """Which Cluster, without its spec: enough to find, pause and delete its children."""

    name: str
    namespace: str
    uid: str


def ref(body: Mapping[str, Any]) -> ClusterRef:
    meta = body.get("metadata") or {}
    return ClusterRef(str(meta.get("name")), str(meta.get("namespace")), str(meta.get("uid") or ""))


@dataclass(frozen=True)
class Machines:
    replicas: int
    cpus: int
    memory_mib: int
    disk_gib: int


@dataclass(frozen=True)
class Snapshot:
    """An etcd backup to start the guest from: where it is in the store, and its SHA-256."""

    location: str
    checksum: str = ""
    # The Secret (this namespace) holding the encryption keys of the cluster
    # the backup came from; empty: the backup's Secrets stay unreadable.
    encryption_keys_secret: str = ""


@dataclass(frozen=True)
class Remediation:
    """``spec.remediation``: when a node counts as unhealthy and is replaced."""

    enabled: bool = True
    unhealthy_timeout: float = 300.0
    startup_timeout: float = 1800.0
    # A count ("2") or a share of the live nodes ("40%").
    max_unhealthy: str = "40%"


@dataclass(frozen=True)
class CARotation:
    """``spec.pki.caRotation``: when the cluster's CA is replaced (carotation.py)."""

    request: str = ""
    # Seconds; None: only on request.
    max_age: float | None = None
    paused: bool = False


@dataclass(frozen=True)
class ClusterSpec:
    name: str
    namespace: str
    uid: str
    kubernetes_version: str
    base_domain: str
    control_plane: Machines
    workers: Machines
    etcd_replicas: int
    etcd_storage_gib: int
    backup_schedule: str
    backup_keep: int
    service_cidr: str
    pod_cidr: str
    cert_ttl: str
    cert_renew_before: str
    key_algorithm: str
    max_surge: int
    max_unavailable: int
    paused: bool
    restore_from: Snapshot | None = None
    remediation: Remediation = Remediation()
    ca_rotation: CARotation = CARotation()

    @property
    def ref(self) -> ClusterRef:
        return ClusterRef(self.name, self.namespace, self.uid)

    def machines(self, role: str) -> Machines:
        return self.control_plane if role == CONTROLPLANE else self.workers


def _machines(body: Mapping[str, Any], key: str, minimum: int, disk: int) -> Machines:
    return Machines(
        replicas=fields.integer(
            body, f"spec.{key}.replicas", default=1 if minimum else 2, minimum=minimum
        ),
        cpus=fields.integer(body, f"spec.{key}.cpus", default=2, minimum=1),
        memory_mib=fields.integer(body, f"spec.{key}.memoryMiB", default=4096, minimum=256),
        disk_gib=fields.integer(body, f"spec.{key}.diskGiB", default=disk, minimum=1),
    )


def parse(body: Mapping[str, Any]) -> ClusterSpec:
    name = fields.string(body, "metadata.name")
    if len(name) > MAX_CLUSTER_NAME:
        raise InvalidSpec("metadata.name", f"must be at most {MAX_CLUSTER_NAME} characters")
    max_surge = fields.integer(body, "spec.rollout.maxSurge", default=1, minimum=0)
    max_unavailable = fields.integer(body, "spec.rollout.maxUnavailable", default=0, minimum=0)
    if max_surge == 0 and max_unavailable == 0:
        raise InvalidSpec("spec.rollout", "maxSurge and maxUnavailable cannot both be 0")
    return ClusterSpec(
        name=name,
        namespace=fields.string(body, "metadata.namespace"),
        uid=str(fields.at(body, "metadata.uid", "") or ""),
        kubernetes_version=fields.string(body, "spec.kubernetesVersion", default="1.34.4"),
        base_domain=fields.string(body, "spec.baseDomain"),
        control_plane=_machines(body, "controlPlane", 1, 20),
        workers=_machines(body, "workers", 0, 40),
        etcd_replicas=fields.integer(body, "spec.etcd.replicas", default=1, minimum=1, maximum=5),
        etcd_storage_gib=fields.integer(body, "spec.etcd.storageGiB", default=10, minimum=1),
        backup_schedule=fields.string(body, "spec.etcd.backup.schedule", default="0 */6 * * *"),
        backup_keep=fields.integer(body, "spec.etcd.backup.keep", default=7, minimum=1),
        service_cidr=fields.string(body, "spec.network.serviceCIDR", default="172.31.0.0/16"),
        pod_cidr=fields.string(body, "spec.network.podCIDR", default="10.2.0.0/16"),
        cert_ttl=fields.string(body, "spec.certificates.ttl", default="4320h"),
        cert_renew_before=fields.string(body, "spec.certificates.renewBefore", default="720h"),
        key_algorithm=fields.string(body, "spec.certificates.keyAlgorithm", default="ECDSAP256"),
        max_surge=max_surge,
        max_unavailable=max_unavailable,
        paused=fields.boolean(body, "spec.paused", default=False),
        restore_from=_snapshot(body),
        remediation=_remediation(body),
        ca_rotation=_ca_rotation(body),
    )


def _ca_rotation(body: Mapping[str, Any]) -> CARotation:
    has_age = fields.at(body, "spec.pki.caRotation.maxAge", None) is not None
    return CARotation(
        request=str(fields.at(body, "spec.pki.caRotation.request", "") or ""),
        max_age=fields.duration(body, "spec.pki.caRotation.maxAge", default="0s")
        if has_age
        else None,
        paused=fields.boolean(body, "spec.pki.caRotation.paused", default=False),
    )


def _remediation(body: Mapping[str, Any]) -> Remediation:
    limit = fields.at(body, "spec.remediation.maxUnhealthy", "40%")
    if isinstance(limit, bool) or not isinstance(limit, (int, str)):
        raise InvalidSpec(
            "spec.remediation.maxUnhealthy", f"must be a count or a percentage, got {limit!r}"
        )
    text = str(limit).strip()
    if not re.fullmatch(r"[0-9]+%?", text) or (text.endswith("%") and int(text[:-1]) > 100):
        raise InvalidSpec(
            "spec.remediation.maxUnhealthy",
            f"must be a count or a percentage such as 40%, got {limit!r}",
        )
    return Remediation(
        enabled=fields.boolean(body, "spec.remediation.enabled", default=True),
        unhealthy_timeout=fields.duration(body, "spec.remediation.unhealthyTimeout", default="5m"),
        startup_timeout=fields.duration(body, "spec.remediation.startupTimeout", default="30m"),
        max_unhealthy=text,
    )


def _snapshot(body: Mapping[str, Any]) -> Snapshot | None:
    # The CRD checks the form; the etcd operator checks the file itself.
    if fields.at(body, "spec.etcd.restoreFrom") is None:
        return None
    checksum = fields.at(body, "spec.etcd.restoreFrom.checksum") or ""
    if not isinstance(checksum, str):
        raise InvalidSpec("spec.etcd.restoreFrom.checksum", f"must be a string, got {checksum!r}")
    keys = fields.at(body, "spec.etcd.restoreFrom.encryptionKeysSecret") or ""
    if not isinstance(keys, str):
        raise InvalidSpec(
            "spec.etcd.restoreFrom.encryptionKeysSecret", f"must be a string, got {keys!r}"
        )
    return Snapshot(fields.string(body, "spec.etcd.restoreFrom.location"), checksum, keys)
