"""Cordon and drain a guest node through the guest cluster's API.

One ``drain_pass`` cordons the Node and asks the Eviction API to evict
every pod on it that a drain may move (not DaemonSet pods, not static
mirror pods, not pods already finished or terminating). The Eviction API
honours PodDisruptionBudgets: a pod whose budget forbids it now is counted
as blocked and tried again on the next pass. Terminating pods of a Node that
is not Ready do not hold the drain: nothing will finish them. The caller decides, from
``policies.drain_decision``, whether to wait, stop, or give up on the timeout.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from shared.conditions import is_true
from shared.errors import ApiError
from shared.kube import Kube, ObjectRef

HTTP_NOT_FOUND = 404
HTTP_TOO_MANY_REQUESTS = 429
MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


class GuestApi(Protocol):
    def cordon(self, node: str) -> None: ...

    def pods_on(self, node: str) -> Sequence[Mapping[str, Any]]: ...

    def evict(self, name: str, namespace: str) -> None: ...

    def delete_node(self, node: str) -> None: ...

    def node_ready(self, node: str) -> bool: ...


class KubeGuest:
    """``GuestApi`` over the kit's Kubernetes adapter (a client of the guest cluster)."""

    def __init__(self, kube: Kube) -> None:
        self._kube = kube

    def cordon(self, node: str) -> None:
        if self._kube.get(ObjectRef("v1", "Node", node)) is None:
            return
        self._kube.apply(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": node},
                "spec": {"unschedulable": True},
            }
        )

    def pods_on(self, node: str) -> Sequence[Mapping[str, Any]]:
        return self._kube.list("v1", "Pod", namespace=None, field_selector=f"spec.nodeName={node}")

    def evict(self, name: str, namespace: str) -> None:
        self._kube.evict(name, namespace)

    def delete_node(self, node: str) -> None:
        self._kube.delete(ObjectRef("v1", "Node", node))

    def node_ready(self, node: str) -> bool:
        found = self._kube.get(ObjectRef("v1", "Node", node)) or {}
        return is_true((found.get("status") or {}).get("conditions") or [], "Ready")


@dataclass(frozen=True)
class DrainPass:
    evicted: tuple[str, ...]
    blocked: tuple[str, ...]
    # Pods that must still leave (evicted ones still terminating included).
    remaining: tuple[str, ...]


def evictable(pod: Mapping[str, Any]) -> bool:
    meta = pod.get("metadata") or {}
    if MIRROR_ANNOTATION in (meta.get("annotations") or {}):
        return False
    if any(ref.get("kind") == "DaemonSet" for ref in meta.get("ownerReferences") or []):
        return False
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed")


def _key(pod: Mapping[str, Any]) -> str:
    meta = pod["metadata"]
    return f"{meta['namespace']}/{meta['name']}"


def drain_pass(api: GuestApi, node: str) -> DrainPass:
    api.cordon(node)
    evicted: list[str] = []
    blocked: list[str] = []
    for pod in api.pods_on(node):
        if not evictable(pod):
            continue
        meta = pod["metadata"]
        if meta.get("deletionTimestamp"):
            continue
        try:
            api.evict(meta["name"], meta["namespace"])
        except ApiError as exc:
            if exc.status == HTTP_NOT_FOUND:
                continue
            if exc.status == HTTP_TOO_MANY_REQUESTS:
                blocked.append(_key(pod))
                continue
            raise
        evicted.append(_key(pod))
    # Evicted pods may be gone at once (no grace period) or terminating:
    # only a fresh look tells which are still there. On a Node that is not
    # Ready no kubelet will finish a terminating pod, so waiting for it would
    # only hold the node until the drain timeout (Cluster API's drain skips
    # them too); budgets still hold the pods not yet evicted.
    ready = api.node_ready(node)
    still = sorted(
        _key(p)
        for p in api.pods_on(node)
        if evictable(p) and (ready or not (p.get("metadata") or {}).get("deletionTimestamp"))
    )
    return DrainPass(tuple(evicted), tuple(blocked), tuple(still))
