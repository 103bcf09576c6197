"""EtcdCluster bodies shared by the etcd unit tests."""

import copy
from typing import Any

BODY: dict[str, Any] = {
    "apiVersion": "g8s.io/v1alpha1",
    "kind": "EtcdCluster",
    "metadata": {
        "name": "demo",
        "namespace": "ns",
        "uid": "8a3b1c2d-0000-4000-8000-000000000001",
        "generation": 2,
        "creationTimestamp": "2026-05-01T00:00:00Z",
    },
    "spec": {
        "replicas": 3,
        "version": "3.6.4",
        "storage": {"sizeGiB": 20, "storageClassName": "fast"},
        "resources": {"cpu": "500m", "memory": "1Gi"},
        "tls": {
            "serverSecretName": "demo-etcd-server",
            "peerSecretName": "demo-etcd-peer",
            "clientSecretName": "demo-etcd-client",
        },
        "backup": {"schedule": "0 */6 * * *", "keep": 3},
        "defragmentation": {"schedule": "30 3 * * *"},
    },
}


def body(**spec: Any) -> dict[str, Any]:
    """BODY with top-level spec fields replaced (``None`` removes one)."""
    result = copy.deepcopy(BODY)
    for key, value in spec.items():
        if value is None:
            result["spec"].pop(key, None)
        else:
            result["spec"][key] = value
    return result
