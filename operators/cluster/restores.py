"""``g8s restore <cluster>``: a Cluster that starts from a backup of another's etcd.

A restore is a new Cluster with ``spec.etcd.restoreFrom`` (which a Cluster only
takes at its creation). This builds it from the existing Cluster's spec: the
same shape, the backup given (``--from``, ``--checksum``) or else the latest
one the cluster's EtcdCluster recorded. Without a new name the manifest is
printed, to apply once the old Cluster is deleted (the name is the old one's);
with ``--as`` it is created beside the old one at once.
"""

import copy
from collections.abc import Mapping
from typing import Any, Protocol

from shared.api import API_VERSION
from shared.api.kinds import CLUSTER, ETCD_CLUSTER
from shared.kube import ObjectRef

# Annotations describing the old object, not the new one's intent.
_DROPPED_ANNOTATION_PREFIXES = ("kopf.zalando.org/", "g8s.io/")
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


class Client(Protocol):
    def get(self, ref: ObjectRef) -> dict[str, Any] | None: ...

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]: ...


def latest_backup(etcd: Mapping[str, Any] | None) -> tuple[str, str]:
    """(location, checksum) of the EtcdCluster's last backup."""
    last = ((etcd or {}).get("status") or {}).get("lastBackup") or {}
    location = str(last.get("location") or "")
    if not location:
        raise LookupError(
            "no backup recorded yet: take one with g8s backup, or name it with --from"
        )
    return location, str(last.get("checksum") or "")


def restored(
    cluster: Mapping[str, Any], *, location: str, checksum: str, name: str = ""
) -> dict[str, Any]:
    """The Cluster to create: ``cluster``'s spec, started from the backup. Pure."""
    meta = cluster.get("metadata") or {}
    spec = copy.deepcopy(dict(cluster.get("spec") or {}))
    spec.pop("paused", None)
    snapshot = {"location": location, **({"checksum": checksum} if checksum else {})}
    spec["etcd"] = {**(spec.get("etcd") or {}), "restoreFrom": snapshot}
    annotations = {
        key: value
        for key, value in (meta.get("annotations") or {}).items()
        if key != _LAST_APPLIED and not key.startswith(_DROPPED_ANNOTATION_PREFIXES)
    }
    new_meta: dict[str, Any] = {"name": name or meta["name"], "namespace": meta["namespace"]}
    if meta.get("labels"):
        new_meta["labels"] = dict(meta["labels"])
    if annotations:
        new_meta["annotations"] = annotations
    return {"apiVersion": API_VERSION, "kind": CLUSTER.kind, "metadata": new_meta, "spec": spec}


def restore(
    kube: Client,
    name: str,
    namespace: str,
    *,
    location: str = "",
    checksum: str = "",
    new_name: str = "",
) -> dict[str, Any]:
    """The restored Cluster; created when ``new_name`` is given."""
    cluster = kube.get(ObjectRef(API_VERSION, CLUSTER.kind, name, namespace))
    if cluster is None:
        raise LookupError(f"Cluster {namespace}/{name} not found")
    if not location:
        etcd = kube.get(ObjectRef(API_VERSION, ETCD_CLUSTER.kind, name, namespace))
        location, checksum = latest_backup(etcd)
    manifest = restored(cluster, location=location, checksum=checksum, name=new_name)
    if new_name:
        kube.create(manifest)
    return manifest
