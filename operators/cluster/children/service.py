"""Service ``<c>-apiserver`` and its EndpointSlice: the guest API, served by the control-plane VMs.

The VMs are not pods: their addresses are on the guest cluster's own network
(the kvm operator reports each in ``KVMNode.status.ipAddress``), so the
Service has no selector and the cluster operator writes the EndpointSlice
itself. kube-proxy then takes the Service's ClusterIP to a control-plane VM,
which is how the operators and the admin kubeconfig reach the guest API (port
443), and the workers' kubelets too (the API server's own port, 6443): the
guests' /etc/hosts gives the Service's name its ClusterIP, so a worker
reaches whichever control-plane VMs are there now (a control-plane node's
kubelet reports to its own API server). It named the first control-plane
VM's address before, and a cluster whose first control-plane VM had been
replaced (by remediation or an upgrade) had no kubelet reaching its API.
"""

from collections.abc import Sequence
from typing import Any

from operators.cluster.model import ClusterSpec
from shared.api import names

PORT = 443
TARGET_PORT = 6443
PORT_NAME = "https"
# The API server's own port on the Service too: the kubelets' URL names it.
NODE_PORT_NAME = "https-nodes"
# Who manages the slice, so the EndpointSlice controller leaves it alone.
MANAGED_BY = "g8s-cluster-operator"


def endpoint(spec: ClusterSpec) -> str:
    return f"https://{names.apiserver_service(spec.name)}.{spec.namespace}.svc:{PORT}"


def ip_endpoint(cluster_ip: str) -> str:
    """The guest API by the Service's ClusterIP, which the API certificate carries."""
    return f"https://{cluster_ip}:{PORT}"


def build(spec: ClusterSpec) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": names.apiserver_service(spec.name)},
        "spec": {
            "type": "ClusterIP",
            "ports": [
                {"name": PORT_NAME, "port": PORT, "targetPort": TARGET_PORT, "protocol": "TCP"},
                {
                    "name": NODE_PORT_NAME,
                    "port": TARGET_PORT,
                    "targetPort": TARGET_PORT,
                    "protocol": "TCP",
                },
            ],
        },
    }


def endpoint_slice(spec: ClusterSpec, addresses: Sequence[str]) -> dict[str, Any]:
    service = names.apiserver_service(spec.name)
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": service,
            "labels": {
                "kubernetes.io/service-name": service,
                "endpointslice.kubernetes.io/managed-by": MANAGED_BY,
            },
        },
        "addressType": "IPv4",
        "ports": [
            {"name": name, "port": TARGET_PORT, "protocol": "TCP"}
            for name in (PORT_NAME, NODE_PORT_NAME)
        ],
        "endpoints": [
            {"addresses": [address], "conditions": {"ready": True}} for address in sorted(addresses)
        ],
    }
