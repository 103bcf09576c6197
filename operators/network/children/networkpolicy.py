"""The NetworkPolicies isolating one guest cluster's pods in the host cluster.

Two policies, both selecting the pods labelled ``g8s.io/cluster=<cluster>``
(VM pods, etcd members: every pod g8s runs for that guest cluster):

``<cluster>-isolation`` admits ingress only from
  - pods of the same namespace labelled ``g8s.io/cluster=<cluster>`` (the
    guest cluster talking to itself: VMs, etcd peers and clients);
  - pods in any namespace matching the operator selector (by default
    ``app.kubernetes.io/part-of=g8s``): the g8s operators, which probe etcd
    and drain guest nodes.
``<cluster>-apiserver-ingress`` admits ingress from anywhere, on the guest
  API server's port only, to the cluster's control-plane pods
  (``g8s.io/node-role=controlplane``): what the ``<cluster>-apiserver``
  Service exposes.

Everything else, other guest clusters in the same namespace included, is
denied: a pod selected by any policy accepts only what some policy allows.
Egress is not restricted (guest nodes pull images and reach the outside).
"""

from typing import Any

from shared.api.labels import CLUSTER, NODE_ROLE

CONTROL_PLANE_ROLE = "controlplane"


def _match_labels(selector: str) -> dict[str, Any]:
    """A ``key=value,key2`` selector string as a LabelSelector."""
    labels: dict[str, str] = {}
    exists: list[dict[str, Any]] = []
    for part in filter(None, (p.strip() for p in selector.split(","))):
        key, sep, value = part.partition("=")
        if sep:
            labels[key.strip()] = value.strip()
        else:
            exists.append({"key": key, "operator": "Exists"})
    result: dict[str, Any] = {}
    if labels:
        result["matchLabels"] = labels
    if exists:
        result["matchExpressions"] = exists
    return result


def isolation(*, name: str, cluster: str, operator_selector: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name},
        "spec": {
            "podSelector": {"matchLabels": {CLUSTER: cluster}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": [{"podSelector": {"matchLabels": {CLUSTER: cluster}}}]},
                {
                    "from": [
                        {
                            "namespaceSelector": {},
                            "podSelector": _match_labels(operator_selector),
                        }
                    ]
                },
            ],
        },
    }


def apiserver(*, name: str, cluster: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name},
        "spec": {
            "podSelector": {
                "matchLabels": {CLUSTER: cluster, NODE_ROLE: CONTROL_PLANE_ROLE},
            },
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": [{"protocol": "TCP", "port": port}]}],
        },
    }
