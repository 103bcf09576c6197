"""Service ``<c>-etcd``: the client endpoint (2379) of the members that are ready."""

from typing import Any

from operators.etcd import scripts, topology
from operators.etcd.model import EtcdClusterSpec
from shared.api import names


def build(spec: EtcdClusterSpec) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": names.etcd_client_service(spec.cluster),
            "labels": {**topology.selector(spec), topology.APP_COMPONENT: "client"},
        },
        "spec": {
            "type": "ClusterIP",
            "selector": topology.selector(spec),
            "ports": [
                {
                    "name": "client",
                    "port": scripts.CLIENT_PORT,
                    "targetPort": "client",
                    "protocol": "TCP",
                }
            ],
        },
    }
