"""The etcd operator's backup store in the local environment: one host directory, many claims.

The etcd chart takes its store as a PersistentVolumeClaim in the release
namespace (``etcd.backup.claimName``), and a restoring etcd member reads the
same store through a claim of the same name in its EtcdCluster's namespace
(``etcd.backup.memberClaim``). A claim lives in one namespace, so each one
here gets its own ReadWriteMany hostPath PersistentVolume, pre-bound to it,
all naming one directory under the environment's state (``.state/<env>/etcd-
backups``), which ``make down`` removes with the rest of the state.

The volumes carry no StorageClass and name their claim, so the environment's
provisioner (tests/volumes.py) leaves them alone; they are ``Retain``, and
:func:`release` deletes them with their claims (never the directory: backups
outlive clusters).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.localenv import LocalEnv, Paths

CLAIM = "g8s-etcd-backups"
OPERATOR_NAMESPACE = "g8s-system"
LABEL = "g8s.io/backup-store"
# The etcd operator runs as this user (the operators image) and writes the store.
OPERATOR_UID = 65532
SIZE = "1Gi"


def store_dir(env: LocalEnv) -> Path:
    return Paths(env.name).state / "etcd-backups"


def volume_name(env: LocalEnv, namespace: str) -> str:
    return f"g8s-etcd-backups-{env.name}-{namespace}"


def objects(env: LocalEnv, namespace: str) -> list[dict[str, Any]]:
    """The volume and claim that show the store in ``namespace``. Pure."""
    name = volume_name(env, namespace)
    labels = {LABEL: "true"}
    volume = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "capacity": {"storage": SIZE},
            "accessModes": ["ReadWriteMany"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "hostPath": {"path": str(store_dir(env)), "type": "Directory"},
            "claimRef": {"namespace": namespace, "name": CLAIM},
        },
    }
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": CLAIM, "namespace": namespace, "labels": labels},
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "storageClassName": "",
            "volumeName": name,
            "resources": {"requests": {"storage": SIZE}},
        },
    }
    return [volume, claim]


def provision(env: LocalEnv, namespaces: Sequence[str]) -> dict[str, Any]:
    """Show the store to the operator and to ``namespaces``; return the etcd chart values for it."""
    store = store_dir(env)
    store.mkdir(parents=True, exist_ok=True)
    os.chown(store, OPERATOR_UID, OPERATOR_UID)
    items = [
        item for namespace in (OPERATOR_NAMESPACE, *namespaces) for item in objects(env, namespace)
    ]
    env.kubectl("create", "namespace", OPERATOR_NAMESPACE, check=False)
    env.kubectl(
        "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    )
    return {"etcd": {"backup": {"claimName": CLAIM, "memberClaim": CLAIM}}}


def release(env: LocalEnv, namespaces: Sequence[str]) -> None:
    """Delete the claims and volumes :func:`provision` made; the backups stay on disk."""
    for namespace in (OPERATOR_NAMESPACE, *namespaces):
        env.kubectl(
            "delete",
            "pvc",
            CLAIM,
            "-n",
            namespace,
            "--ignore-not-found",
            "--wait=false",
            check=False,
        )
    env.kubectl(
        "delete", "pv", "-l", f"{LABEL}=true", "--ignore-not-found", "--wait=false", check=False
    )
