"""PersistentVolumeClaim ``<node>-disk``: the VM's root disk."""

from typing import Any

from operators.kvm.model import KVMNodeSpec
from shared.api import names


def build(spec: KVMNodeSpec, storage_class: str = "") -> dict[str, Any]:
    claim: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        # Block mode: QEMU writes the disk directly, no filesystem between.
        "volumeMode": "Block",
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
