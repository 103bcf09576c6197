"""PersistentVolumeClaim ``<node>-disk``: the VM's root disk."""

from typing import Any

from operators.kvm.model import KVMNodeSpec
from shared.api import names


def build(spec: KVMNodeSpec, storage_class: str = "") -> dict[str, Any]:
    claim: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        # A filesystem holding the VM's qcow2 overlay (operators/kvm/launcher/
        # guest.py): every provisioner offers Filesystem volumes, and a
        # hostPath volume (local-path, the local environment) cannot be Block.
        "volumeMode": "Filesystem",
        "resources": {"requests": {"storage": f"{spec.disk_gib}Gi"}},
    }
    if storage_class:
        claim["storageClassName"] = storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": names.node_disk(spec.name), "namespace": spec.namespace},
        "spec": claim,
    }
