"""Service ``<c>-etcd-peer``: headless, gives each member its stable DNS name.

``publishNotReadyAddresses`` because members must find each other before
any of them is ready: a new cluster has no quorum until its peers resolve.
"""

from typing import Any

from operators.etcd import scripts, topology
from operators.etcd.model import EtcdClusterSpec
from shared.api import names


def build(spec: EtcdClusterSpec) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": names.etcd_peer_service(spec.cluster),
            "labels": {**topology.selector(spec), topology.APP_COMPONENT: "peer"},
        },
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": topology.selector(spec),
            "ports": [
                {
                    "name": "peer",
                    "port": scripts.PEER_PORT,
                    "targetPort": "peer",
                    "protocol": "TCP",
                },
                {
                    "name": "client",
                    "port": scripts.CLIENT_PORT,
                    "targetPort": "client",
                    "protocol": "TCP",
                },
            ],
        },
    }
