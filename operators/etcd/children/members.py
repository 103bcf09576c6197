"""ConfigMap ``<c>-etcd-members``: the membership a member with empty data must join.

The start script reads it only when the data directory is empty (a new or
replaced member). It is a volume, not environment variables, so that a
membership change does not change the pod template and roll every member.
"""

from typing import Any

from operators.etcd import scripts, topology
from operators.etcd.model import EtcdClusterSpec


def build(spec: EtcdClusterSpec, *, peers: dict[str, str], state: str) -> dict[str, Any]:
    """``peers``: member name -> peer URL; ``state``: ``new`` (bootstrap) or ``existing``."""
    if state not in ("new", "existing"):
        raise ValueError(f"initial cluster state must be new or existing, not {state!r}")
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": topology.members_configmap(spec), "labels": topology.selector(spec)},
        "data": {
            scripts.INITIAL_CLUSTER_KEY: scripts.initial_cluster(peers),
            scripts.INITIAL_CLUSTER_STATE_KEY: state,
        },
    }
