"""Service ``<c>-apiserver``: the guest API, served by the control-plane VM pods.

The selector is the cluster label plus the node-role label that the kvm
operator's Deployment puts on its pod template.
"""

from typing import Any

from operators.cluster.model import CONTROLPLANE, ClusterSpec
from shared.api import names
from shared.api.labels import CLUSTER, NODE_ROLE

PORT = 443
TARGET_PORT = 6443


def selector(spec: ClusterSpec) -> dict[str, str]:
    return {CLUSTER: spec.name, NODE_ROLE: CONTROLPLANE}


def endpoint(spec: ClusterSpec) -> str:
    return f"https://{names.apiserver_service(spec.name)}.{spec.namespace}.svc:{PORT}"


def build(spec: ClusterSpec) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": names.apiserver_service(spec.name)},
        "spec": {
            "type": "ClusterIP",
            "selector": selector(spec),
            "ports": [
                {"name": "https", "port": PORT, "targetPort": TARGET_PORT, "protocol": "TCP"}
            ],
        },
    }
