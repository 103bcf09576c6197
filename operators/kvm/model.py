"""Typed view of a ``KVMNode``."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared import fields

ROLES = ("controlplane", "worker")


@dataclass(frozen=True)
class KVMNodeSpec:
    name: str
    namespace: str
    cluster: str
    role: str
    cpus: int
    memory_mib: int


def parse(body: Mapping[str, Any]) -> KVMNodeSpec:
    return KVMNodeSpec(
        name=fields.string(body, "metadata.name"),
        namespace=fields.string(body, "metadata.namespace"),
        cluster=fields.string(body, "spec.cluster"),
        role=fields.string(body, "spec.role", choices=ROLES),
        cpus=fields.integer(body, "spec.cpus", minimum=1),
        memory_mib=fields.integer(body, "spec.memoryMiB", minimum=256),
    )
