"""``g8s restore <cluster>``: a Cluster that starts from a backup of another's etcd.

A restore is a new Cluster with ``spec.etcd.restoreFrom`` (which a Cluster only
takes at its creation). This builds it from the existing Cluster's spec: the
same shape, the backup given (``--from``, ``--checksum``) or else the latest
one the cluster's EtcdCluster recorded. Without a new name the manifest is
printed, to apply once the old Cluster is deleted (the name is the old one's);
with ``--as`` it is created beside the old one at once.

Either way it first copies the old cluster's encryption-at-rest keys into the
Secret ``<new>-restore-keys`` (labelled for the new cluster, owned by nobody,
so it outlives the old Cluster) and names it in
``spec.etcd.restoreFrom.encryptionKeysSecret``: the Secrets in the backup are
stored under those keys, and the new cluster starts with them. Its operator
takes the Secret over once it has copied the keys.
"""

import copy
from collections.abc import Mapping
from typing import Any, Protocol

from shared.api import API_VERSION, names
from shared.api.encryption import KEY, KEYS
from shared.api.kinds import CLUSTER, ETCD_CLUSTER
from shared.api.labels import CLUSTER as CLUSTER_LABEL
from shared.errors import HTTP_CONFLICT, ApiError
from shared.kube import ObjectRef

# Annotations describing the old object, not the new one's intent.
_DROPPED_ANNOTATION_PREFIXES = ("kopf.zalando.org/", "g8s.io/")
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


class Client(Protocol):
    def get(self, ref: ObjectRef) -> dict[str, Any] | None: ...

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]: ...

    def patch(self, ref: ObjectRef, body: Mapping[str, Any]) -> dict[str, Any]: ...


def latest_backup(etcd: Mapping[str, Any] | None) -> tuple[str, str]:
    """(location, checksum) of the EtcdCluster's last backup."""
    last = ((etcd or {}).get("status") or {}).get("lastBackup") or {}
    location = str(last.get("location") or "")
    if not location:
        raise LookupError(
            "no backup recorded yet: take one with g8s backup, or name it with --from"
        )
    return location, str(last.get("checksum") or "")


def keys_secret_name(cluster: str) -> str:
    return f"{cluster}-restore-keys"


def keys_secret(encryption: Mapping[str, Any], *, cluster: str, namespace: str) -> dict[str, Any]:
    """The copy of ``encryption``'s keys (a ``<c>-encryption`` Secret) for ``cluster``. Pure."""
    data = {k: v for k, v in (encryption.get("data") or {}).items() if k in (KEY, KEYS) and v}
    if not data:
        raise LookupError(f"Secret {encryption['metadata']['name']} holds no encryption key")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": keys_secret_name(cluster),
            "namespace": namespace,
            "labels": {CLUSTER_LABEL: cluster},
        },
        "type": "Opaque",
        "data": data,
    }


def restored(
    cluster: Mapping[str, Any], *, location: str, checksum: str, name: str = ""
) -> dict[str, Any]:
    """The Cluster to create: ``cluster``'s spec, started from the backup. Pure."""
    meta = cluster.get("metadata") or {}
    target = name or meta["name"]
    spec = copy.deepcopy(dict(cluster.get("spec") or {}))
    spec.pop("paused", None)
    snapshot = {
        "location": location,
        **({"checksum": checksum} if checksum else {}),
        "encryptionKeysSecret": keys_secret_name(target),
    }
    spec["etcd"] = {**(spec.get("etcd") or {}), "restoreFrom": snapshot}
    annotations = {
        key: value
        for key, value in (meta.get("annotations") or {}).items()
        if key != _LAST_APPLIED and not key.startswith(_DROPPED_ANNOTATION_PREFIXES)
    }
    new_meta: dict[str, Any] = {"name": target, "namespace": meta["namespace"]}
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
    keep_keys(kube, name, namespace, target=manifest["metadata"]["name"])
    if new_name:
        kube.create(manifest)
    return manifest


def keep_keys(kube: Client, name: str, namespace: str, *, target: str) -> None:
    """Copy ``name``'s encryption keys into ``target``'s restore-keys Secret (made or updated)."""
    source = kube.get(ObjectRef("v1", "Secret", names.encryption_secret(name), namespace))
    if source is None:
        raise LookupError(
            f"Secret {namespace}/{names.encryption_secret(name)} not found: without the old "
            f"cluster's encryption keys no Secret of the backup could be read"
        )
    copy_of = keys_secret(source, cluster=target, namespace=namespace)
    try:
        kube.create(copy_of)
    except ApiError as exc:
        if exc.status != HTTP_CONFLICT:
            raise
        ref = ObjectRef("v1", "Secret", copy_of["metadata"]["name"], namespace)
        kube.patch(ref, {"data": {KEY: None, KEYS: None, **copy_of["data"]}})
