"""A valid object of each g8s kind, and changing one field of it.

The starting points of the tests that feed the API server invalid or hostile
objects (tests/integration/test_cluster_validation.py, the reliability
tier's corpus): each such object differs from one of these in one place.
"""

from __future__ import annotations

import copy
from typing import Any

from shared.api import API_VERSION

# ``changed`` removes the field instead of setting it.
MISSING = object()


def cluster(name: str, namespace: str) -> dict[str, Any]:
    """A valid Cluster: docs/design.md#the-cluster-resource spelled out."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "kubernetesVersion": "1.34.2",
            "baseDomain": f"{name}.g8s.local",
            "controlPlane": {"replicas": 1, "cpus": 2, "memoryMiB": 4096, "diskGiB": 20},
            "workers": {"replicas": 2, "cpus": 2, "memoryMiB": 4096, "diskGiB": 40},
            "etcd": {
                "replicas": 1,
                "storageGiB": 10,
                "backup": {"schedule": "0 */6 * * *", "keep": 7},
            },
            "network": {"serviceCIDR": "172.31.0.0/16", "podCIDR": "10.2.0.0/16"},
            "certificates": {"ttl": "4320h", "renewBefore": "720h", "keyAlgorithm": "ECDSAP256"},
            "rollout": {"maxSurge": 1, "maxUnavailable": 0},
            "paused": False,
        },
    }


def certificate(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Certificate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "cluster": "c1",
            "component": "api",
            "dnsNames": ["api.c1.g8s.local"],
            "ipAddresses": ["172.31.0.1"],
            "ttl": "4320h",
            "renewBefore": "720h",
        },
    }


def etcd_cluster(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "EtcdCluster",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 3,
            "tls": {
                "serverSecretName": f"{name}-etcd-server",
                "peerSecretName": f"{name}-etcd-peer",
                "clientSecretName": f"{name}-etcd-client",
            },
            "backup": {"schedule": "@daily", "keep": 3, "store": {"path": "backups/c1"}},
        },
    }


def cluster_network(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "ClusterNetwork",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"vni": 4242, "subnet": "10.100.3.0/24", "mtu": 1450},
    }


def kvm_node(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "KVMNode",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "cluster": "c1",
            "role": "worker",
            "index": 0,
            "network": "c1",
            "cpus": 2,
            "memoryMiB": 4096,
            "diskGiB": 20,
        },
    }


BUILDERS = {
    "Cluster": cluster,
    "Certificate": certificate,
    "EtcdCluster": etcd_cluster,
    "ClusterNetwork": cluster_network,
    "KVMNode": kvm_node,
}


def changed(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``obj`` with dotted ``path`` set to ``value`` (removed for MISSING)."""
    result = copy.deepcopy(obj)
    *parents, last = path.split(".")
    node = result
    for part in parents:
        node = node.setdefault(part, {})
    if value is MISSING:
        node.pop(last, None)
    else:
        node[last] = value
    return result


def etcd_tls_secrets(cluster: str, namespace: str) -> list[dict[str, Any]]:
    """Stand-ins for the members' TLS Secrets, where no certificates operator runs:
    the etcd operator creates no member before they exist. Their content is
    never read on simulated hosts."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{cluster}-etcd-{part}", "namespace": namespace},
            "stringData": {"stand-in": "no certificates operator in this test"},
        }
        for part in ("server", "peer", "client")
    ]
