"""PodDisruptionBudget ``<c>-etcd``: voluntary evictions take one member at a time."""

from typing import Any

from operators.etcd import topology
from operators.etcd.model import EtcdClusterSpec
from shared.api import names


def build(spec: EtcdClusterSpec) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {
            "name": names.etcd_statefulset(spec.cluster),
            "labels": topology.selector(spec),
        },
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": topology.selector(spec)}},
    }
