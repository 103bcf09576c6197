"""The allocation record: a ConfigMap whose name is the allocated value.

It lives in the allocation namespace, not beside its network, so that one
namespace holds every value and the API server's name uniqueness makes them
unique cluster-wide; an owner reference cannot cross namespaces, so the
owner is named by labels and data, and the finalizer deletes the record.
"""

from typing import Any

from shared.api import GROUP
from shared.api.labels import MANAGED_BY, managed_by, standard_labels

OPERATOR = "network"
ALLOCATION = f"{GROUP}/allocation"
OWNER_UID = f"{GROUP}/owner-uid"
OWNER = f"{GROUP}/owner"


def build(
    *, name: str, namespace: str, kind: str, value: str, owner: tuple[str, str, str]
) -> dict[str, Any]:
    """The record ``name`` holding ``value`` (a VNI or a subnet) for ``owner`` (ns, name, uid)."""
    owner_namespace, owner_name, owner_uid = owner
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                **standard_labels(OPERATOR, owner_name),
                ALLOCATION: kind,
                OWNER_UID: owner_uid,
            },
            "annotations": {OWNER: f"{owner_namespace}/{owner_name}"},
        },
        "data": {
            "kind": kind,
            "value": value,
            "namespace": owner_namespace,
            "name": owner_name,
            "uid": owner_uid,
        },
        # Never edited after creation: a record is created or deleted, nothing else.
        "immutable": True,
    }


def selector(kind: str | None = None, owner_uid: str | None = None) -> str:
    """A label selector of records, of one kind and/or one owner."""
    parts = [f"{MANAGED_BY}={managed_by(OPERATOR)}"]
    if kind:
        parts.append(f"{ALLOCATION}={kind}")
    else:
        parts.append(ALLOCATION)
    if owner_uid:
        parts.append(f"{OWNER_UID}={owner_uid}")
    return ",".join(parts)
