"""The cluster's ``ClusterNetwork``; VNI and subnet are left to the network operator."""

from typing import Any

from operators.cluster.model import ClusterSpec
from shared.api import API_VERSION, names
from shared.api.kinds import CLUSTER_NETWORK


def build(spec: ClusterSpec) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": CLUSTER_NETWORK.kind,
        "metadata": {"name": names.cluster_network(spec.name)},
        # An empty spec: vni and subnet are allocated, and the mtu defaults.
        "spec": {},
    }
