"""Deleted means gone: an owner's finalizer holds until what it made no longer exists.

Kubernetes' garbage collector removes an owner's dependents only after the
owner itself has gone, so a KVMNode or EtcdCluster that simply let its
finalizer go would vanish while its Deployment, pods, StatefulSet, PVCs and
volumes still exist: a cluster reported deleted while its VMs still run and
its data still sits on disk. Cluster API's Machine waits for its
infrastructure for the same reason.

``teardown`` runs on every attempt of an owner's deletion handler. It deletes
the owner's direct children — those with dependents with foreground
propagation (each then stays until its own dependents are gone: a Deployment
until its ReplicaSets and their pods have terminated), leaves in the
background — and reports what still exists of the owner's tree: every
object reachable through owner references, plus the PersistentVolumes still
bound or released for the owner's claims. The caller
retries until nothing is left. The state lives in the API server, so a
restarted operator simply carries on.

The tree is found through the label ``g8s.io/cluster``, which every object g8s
writes carries and which the workloads' pod templates and claim templates
pass on to what the controllers make from them (pods, ReplicaSets, a
StatefulSet's claims), then narrowed to the owner by owner references.
"""

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import kopf

from shared.api.labels import CLUSTER
from shared.kube import ObjectRef

# How often a deletion handler looks again while its children terminate; the
# deletion of a watched workload also wakes it (shared.owners).
RECHECK_SECONDS = 2.0


class Client(Protocol):
    """What teardown needs of ``shared.kube.Kube``."""

    def list(
        self,
        api_version: str,
        kind: str,
        *,
        namespace: str | None,
        selector: str = "",
        field_selector: str = "",
    ) -> list[dict[str, Any]]: ...

    def get(self, ref: ObjectRef) -> dict[str, Any] | None: ...

    def delete(self, ref: ObjectRef, *, propagation: str = "Background") -> bool: ...


# What the workload controllers make from a Deployment or StatefulSet: an
# owner with workloads lists these kinds too.
WORKLOAD_KINDS: tuple[tuple[str, str], ...] = (
    ("apps/v1", "ReplicaSet"),
    ("v1", "Pod"),
    ("v1", "PersistentVolumeClaim"),
)


@dataclass(frozen=True)
class Scope:
    """One owner and every kind its tree can hold (what it makes, and what is made from that)."""

    namespace: str
    # The owner's cluster, which its children are labelled with; None when
    # unknown (an owner whose spec no longer parses): all g8s objects are looked at.
    cluster: str | None
    owner_uid: str
    kinds: Sequence[tuple[str, str]]
    # Objects the owner makes under names it knows, read one by one: Secrets,
    # which an operator may read by name but not list (RBAC), are found so.
    named: Sequence[ObjectRef] = ()
    # Names of claims the owner makes, so that a volume still Released after
    # its claim has gone is found (its claim, and so the owner reference, is
    # gone). None: the owner makes no claims, and volumes are not looked at.
    claims: Callable[[str], bool] | None = None


def scope_of(
    body: Mapping[str, Any],
    kinds: Sequence[tuple[str, str]],
    *,
    named: Sequence[ObjectRef] = (),
    claims: Callable[[str], bool] | None = None,
) -> Scope:
    """The scope of an owner whose ``spec.cluster`` names its cluster (every child CR)."""
    meta = body["metadata"]
    return Scope(
        str(meta["namespace"]),
        cluster_of(body),
        str(meta["uid"]),
        tuple(kinds),
        tuple(named),
        claims,
    )


def cluster_of(body: Mapping[str, Any]) -> str | None:
    """``spec.cluster``, or the owner's own cluster label when the spec does not say."""
    cluster = (body.get("spec") or {}).get("cluster")
    if isinstance(cluster, str):
        return cluster
    label = ((body.get("metadata") or {}).get("labels") or {}).get(CLUSTER)
    return label if isinstance(label, str) else None


def owner_uids(obj: Mapping[str, Any]) -> set[str]:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return {str(ref.get("uid")) for ref in refs}


def uid(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("uid"))


def tree(objects: Iterable[Mapping[str, Any]], root: str) -> list[Mapping[str, Any]]:
    """The objects reachable from ``root`` through owner references, nearest first."""
    pending = list(objects)
    found: list[Mapping[str, Any]] = []
    owners = {root}
    while True:
        level = [obj for obj in pending if owner_uids(obj) & owners]
        if not level:
            return found
        found.extend(level)
        owners = {uid(obj) for obj in level}
        pending = [obj for obj in pending if uid(obj) not in owners]


def claimed_volume(
    volume: Mapping[str, Any], namespace: str, claims: Callable[[str], bool]
) -> bool:
    ref = (volume.get("spec") or {}).get("claimRef") or {}
    return ref.get("namespace") == namespace and claims(str(ref.get("name") or ""))


def describe(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    text = f"{obj.get('kind')}/{meta.get('name')}"
    return f"{text} (terminating)" if meta.get("deletionTimestamp") else text


@dataclass
class Volumes:
    """The names of the volumes of each owner's claims seen by this process (by owner uid).

    No selector finds a PersistentVolume by its claim, so without them every
    look of every owner listed all the host cluster's volumes: with 100
    clusters deleted at once, 300 owners looked several times each at some
    300 volumes, and the listings grew with the square of the count. A claim
    names its volume (``spec.volumeName``) while it exists; once it is gone,
    its volume is read by the name remembered here.
    """

    known: dict[str, frozenset[str]] = field(default_factory=dict)

    def forget(self, owner_uid: str) -> None:
        self.known.pop(owner_uid, None)


def remaining(
    kube: Client, scope: Scope, volumes: Volumes | None = None
) -> list[Mapping[str, Any]]:
    """What still exists of the owner's tree, and the volumes of its claims.

    ``volumes`` is what this process learnt of the owner's volumes on earlier
    looks; None: every look lists all volumes.
    """
    selector = CLUSTER if scope.cluster is None else f"{CLUSTER}={scope.cluster}"
    objects: list[dict[str, Any]] = []
    for api_version, kind in dict.fromkeys(scope.kinds):
        for obj in kube.list(api_version, kind, namespace=scope.namespace, selector=selector):
            objects.append({**obj, "apiVersion": api_version, "kind": kind})
    for ref in scope.named:
        found = kube.get(ref)
        if found is not None:
            objects.append({**found, "apiVersion": ref.api_version, "kind": ref.kind})
    left = tree(objects, scope.owner_uid)
    if scope.claims is not None:
        left.extend(claimed_volumes(kube, scope, objects, volumes or Volumes()))
    return left


def claimed_volumes(
    kube: Client, scope: Scope, objects: Sequence[Mapping[str, Any]], volumes: Volumes
) -> list[dict[str, Any]]:
    """The volumes still there for the owner's claims (``scope.claims`` is set).

    Read by name when every volume is known: from the claims listed now, bound
    to theirs, and from earlier looks. Listed all once otherwise: on a
    process's first look at an owner none of whose claims is left (one
    restarted after deleting them), and while a claim is not bound yet (its
    volume may be made under a name not known yet). The volumes of claims
    removed before this process's first look at the owner (a StatefulSet
    scaled down just before) are not looked for while some of its claims are
    left: those claims' volumes go back to their provisioner on their own.
    """
    assert scope.claims is not None
    claims = [
        obj
        for obj in objects
        if obj.get("kind") == "PersistentVolumeClaim"
        and scope.claims(str((obj.get("metadata") or {}).get("name") or ""))
    ]
    bound = {str((c.get("spec") or {}).get("volumeName") or "") for c in claims}
    earlier = volumes.known.get(scope.owner_uid)
    if "" in bound or (earlier is None and not claims):
        found = [
            {**v, "apiVersion": "v1", "kind": "PersistentVolume"}
            for v in kube.list("v1", "PersistentVolume", namespace=None)
            if claimed_volume(v, scope.namespace, scope.claims)
        ]
    else:
        found = []
        for name in sorted(bound | (earlier or frozenset())):
            v = kube.get(ObjectRef("v1", "PersistentVolume", name, None))
            if v is not None and claimed_volume(v, scope.namespace, scope.claims):
                found.append({**v, "apiVersion": "v1", "kind": "PersistentVolume"})
    names = {str(v["metadata"]["name"]) for v in found} | (bound - {""})
    volumes.known[scope.owner_uid] = frozenset(names)
    return found


# Kinds whose objects make others (ReplicaSets, pods) that may not be listed yet.
MAKERS = frozenset({"Deployment", "StatefulSet", "ReplicaSet", "DaemonSet", "Job"})


def propagation(obj: Mapping[str, Any], others: Sequence[Mapping[str, Any]]) -> str:
    """Foreground for a child with dependents, so that it stays until they are gone;
    Background for a leaf (a Secret, a Service), which then goes at once.

    A foreground deletion waits for the garbage collector even when there is
    nothing to collect: under load that took a Secret seconds to go, and a
    cluster's deletion as many times over as it has Secrets.
    """
    if obj.get("kind") in MAKERS or any(uid(obj) in owner_uids(other) for other in others):
        return "Foreground"
    return "Background"


def teardown(kube: Client, scope: Scope, volumes: Volumes | None = None) -> tuple[str, ...]:
    """Delete the owner's children; what is left, described. Empty: all gone."""
    left = remaining(kube, scope, volumes)
    described: list[str] = []
    for obj in left:
        meta = obj.get("metadata") or {}
        if scope.owner_uid not in owner_uids(obj) or meta.get("deletionTimestamp"):
            described.append(describe(obj))
            continue
        ref = ObjectRef(str(obj["apiVersion"]), str(obj["kind"]), meta["name"], scope.namespace)
        how = propagation(obj, left)
        existed = kube.delete(ref, propagation=how)
        # A leaf without finalizers deleted in the background is removed by the
        # DELETE itself, so the handler finishes on this attempt instead of
        # after a retry (whose progress kopf would write to the owner first),
        # and without reading everything again to see it gone.
        if existed and (how != "Background" or meta.get("finalizers")):
            described.append(f"{describe(obj)} (terminating)")
    if not described and volumes is not None:
        volumes.forget(scope.owner_uid)
    return tuple(described)


def summary(left: Sequence[str], limit: int = 5) -> str:
    """``left`` as one line for a condition or a retry message."""
    shown = ", ".join(left[:limit])
    more = f" and {len(left) - limit} more" if len(left) > limit else ""
    return f"waiting for {len(left)} object(s) to be gone: {shown}{more}"


async def hold_until_gone(kube: Client, scope: Scope, volumes: Volumes | None = None) -> None:
    """For a kopf deletion handler: retry (keeping the finalizer) until the tree is gone."""
    left = await asyncio.to_thread(teardown, kube, scope, volumes)
    if left:
        raise kopf.TemporaryError(summary(left), delay=RECHECK_SECONDS)
