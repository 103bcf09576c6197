"""One ``KVMNode``: a control-plane or worker VM of the cluster at a stable index."""

from typing import Any

from operators.cluster.model import ClusterSpec
from shared.api import API_VERSION, names
from shared.api.kinds import KVM_NODE
from shared.api.labels import NODE_ROLE


def build(spec: ClusterSpec, role: str, index: int, version: str) -> dict[str, Any]:
    """``version`` is passed in: during a rollout an old node keeps its version."""
    machines = spec.machines(role)
    return {
        "apiVersion": API_VERSION,
        "kind": KVM_NODE.kind,
        "metadata": {"name": names.kvm_node(spec.name, role, index), "labels": {NODE_ROLE: role}},
        "spec": {
            "cluster": spec.name,
            "role": role,
            "index": index,
            "network": names.cluster_network(spec.name),
            "kubernetesVersion": version,
            "cpus": machines.cpus,
            "memoryMiB": machines.memory_mib,
            "diskGiB": machines.disk_gib,
            "serviceCIDR": spec.service_cidr,
            "podCIDR": spec.pod_cidr,
        },
    }
