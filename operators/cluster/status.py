"""Pure: what the cluster operator observed of its children -> conditions, phase, counts.

The Cluster's status is an aggregate of its children's ``Ready`` conditions;
each aggregated condition's reason and message name the first child that is
not ready, so ``kubectl describe`` points at the object to look at next.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from operators.cluster import remediation
from operators.cluster.model import CONTROLPLANE, WORKER, ClusterSpec
from operators.cluster.policies import NodePlan, NodeState
from operators.cluster.remediation import Verdict
from shared import conditions as cond
from shared.api import conditions as c
from shared.api import names
from shared.api.kinds import CLUSTER_NETWORK, ETCD_CLUSTER, KVM_NODE
from shared.conditions import Observation
from shared.status import Report

PROVISIONING = "Provisioning"
PROVISIONED = "Provisioned"
UPGRADING = "Upgrading"
DELETING = "Deleting"

REASON_NOT_CREATED = "NotCreated"
REASON_NOT_OBSERVED = "NotYetObserved"
REASON_ALL_READY = "AllReady"
REASON_SCALING = "Scaling"
REASON_ROLLING_OUT = "RollingOut"
REASON_UP_TO_DATE = "UpToDate"
REASON_DELETING = "DeletingChildren"


@dataclass(frozen=True)
class ChildReady:
    """The ``Ready`` condition of one child, as the cluster operator reads it."""

    kind: str
    name: str
    status: str
    reason: str
    message: str = ""

    @property
    def ready(self) -> bool:
        return self.status == c.TRUE

    def describe(self) -> str:
        detail = f": {self.message}" if self.message else ""
        return f"{self.kind} {self.name} is not ready ({self.reason}){detail}"


def child_ready(kind: str, name: str, body: Mapping[str, Any] | None) -> ChildReady:
    """Ready of ``body``; a child whose latest spec its operator has not seen is not ready."""
    if body is None:
        return ChildReady(kind, name, c.FALSE, REASON_NOT_CREATED, "not created yet")
    status = body.get("status") or {}
    generation = int((body.get("metadata") or {}).get("generation") or 0)
    observed = int(status.get("observedGeneration") or 0)
    if observed < generation:
        message = f"generation {generation} not yet observed (at {observed})"
        return ChildReady(kind, name, c.UNKNOWN, REASON_NOT_OBSERVED, message)
    ready = cond.get(status.get("conditions") or [], c.READY)
    if ready is None:
        return ChildReady(kind, name, c.UNKNOWN, REASON_NOT_OBSERVED, "no Ready condition yet")
    return ChildReady(
        kind,
        name,
        str(ready.get("status")),
        str(ready.get("reason") or ""),
        str(ready.get("message") or ""),
    )


@dataclass(frozen=True)
class Observed:
    """Everything one reconcile saw; built by the reconcile's observe step."""

    certificates: Sequence[ChildReady] = ()
    etcd: ChildReady | None = None
    network: ChildReady | None = None
    network_status: Mapping[str, Any] = field(default_factory=dict)
    nodes: Sequence[NodeState] = ()
    node_ready: Sequence[ChildReady] = ()
    plans: Sequence[NodePlan] = ()
    kubeconfig: bool = False
    # Node remediation's verdict; None when the reconcile did not get that far.
    health: Verdict | None = None
    # The encryption key rotation's condition, and when to look at it again
    # (it waits on the guest's API servers, which send no event).
    rotation: Observation | None = None
    rotation_recheck: datetime | None = None
    # The same for the service-account key rotation.
    sa_rotation: Observation | None = None
    sa_rotation_recheck: datetime | None = None
    # The same for the CA rotation, and status.caRotation (the request under
    # way and the last one answered; None leaves what is there).
    ca_rotation: Observation | None = None
    ca_rotation_recheck: datetime | None = None
    ca_rotation_status: Mapping[str, Any] | None = None


def _aggregate(type_: str, children: Sequence[ChildReady], what: str) -> Observation:
    for child in children:
        if not child.ready:
            return Observation(
                type_,
                c.FALSE if child.status == c.FALSE else c.UNKNOWN,
                f"{child.kind}NotReady",
                child.describe(),
            )
    return Observation.true(type_, REASON_ALL_READY, f"{len(children)} {what} ready")


def _nodes(
    type_: str,
    role: str,
    desired: int,
    nodes: Sequence[NodeState],
    ready: Sequence[ChildReady],
    *,
    waiting: str = "",
) -> Observation:
    mine = {n.name for n in nodes if n.role == role and not n.deleting}
    count = sum(1 for n in nodes if n.name in mine and n.ready)
    if count >= desired:
        return Observation.true(type_, REASON_ALL_READY, f"{count}/{desired} {role} nodes ready")
    pending = [r for r in ready if r.name in mine and not r.ready]
    if pending:
        first = pending[0]
        message = f"{count}/{desired} {role} nodes ready; {first.describe()}"
        return Observation.false(type_, f"{KVM_NODE.kind}NotReady", message)
    return Observation.false(
        type_,
        REASON_SCALING,
        f"{count}/{desired} {role} nodes ready; {waiting or 'nodes being created'}",
    )


def _counts(role: str, desired: int, version: str, nodes: Sequence[NodeState]) -> dict[str, int]:
    mine = [n for n in nodes if n.role == role and not n.deleting]
    return {
        "replicas": desired,
        "readyReplicas": sum(1 for n in mine if n.ready),
        "updatedReplicas": sum(1 for n in mine if n.version == version),
    }


def up_to_date(spec: ClusterSpec, observed: Observed) -> Observation:
    live = [n for n in observed.nodes if not n.deleting]
    behind = [n for n in live if n.version != spec.kubernetes_version]
    busy = [p for p in observed.plans if not p.idle]
    if behind:
        waiting = next((p.waiting or p.message for p in busy), "")
        message = (
            f"{len(behind)} of {len(live)} nodes not at {spec.kubernetes_version}"
            f"{'; ' + waiting if waiting else ''}"
        )
        return Observation.false(c.UP_TO_DATE, REASON_ROLLING_OUT, message)
    if busy:
        return Observation.false(c.UP_TO_DATE, REASON_SCALING, busy[0].waiting or busy[0].message)
    return Observation.true(
        c.UP_TO_DATE, REASON_UP_TO_DATE, f"all nodes at {spec.kubernetes_version}"
    )


def observations(spec: ClusterSpec, observed: Observed) -> list[Observation]:
    absent = ChildReady(ETCD_CLUSTER.kind, spec.name, c.FALSE, REASON_NOT_CREATED)
    network_absent = ChildReady(CLUSTER_NETWORK.kind, spec.name, c.FALSE, REASON_NOT_CREATED)
    parts = [
        _aggregate(c.CERTIFICATES_READY, observed.certificates, "certificates"),
        _aggregate(c.ETCD_READY, [observed.etcd or absent], "etcd clusters"),
        _aggregate(c.NETWORK_READY, [observed.network or network_absent], "networks"),
        _nodes(
            c.CONTROL_PLANE_READY,
            CONTROLPLANE,
            spec.control_plane.replicas,
            observed.nodes,
            observed.node_ready,
        ),
        _nodes(
            c.WORKERS_READY,
            WORKER,
            spec.workers.replicas,
            observed.nodes,
            observed.node_ready,
            waiting=next((p.waiting or "" for p in observed.plans if p.role == WORKER), ""),
        ),
        up_to_date(spec, observed),
    ]
    # NodesHealthy is not part of Ready: a node being replaced already shows
    # in ControlPlaneReady or WorkersReady.
    extra = []
    health = observed.health
    if health is not None:
        extra.append(Observation(c.NODES_HEALTHY, health.status, health.reason, health.message))
    rotations = (observed.rotation, observed.sa_rotation, observed.ca_rotation)
    extra += [o for o in rotations if o is not None]
    return [ready(parts), *parts, *extra]


def ready(parts: Sequence[Observation]) -> Observation:
    """Ready: True when every part is; else the first part's reason, naming its child."""
    for part in parts:
        if part.status != c.TRUE:
            return Observation(c.READY, part.status, part.reason, f"{part.type}: {part.message}")
    return Observation.true(c.READY, REASON_ALL_READY, "cluster is ready")


def phase(spec: ClusterSpec, observed: Observed, parts: Sequence[Observation]) -> str:
    # As UpToDate and status.kubernetesVersion read it: an old node still
    # being removed is no longer part of the rollout.
    live = [n for n in observed.nodes if not n.deleting]
    if any(n.version != spec.kubernetes_version for n in live):
        return UPGRADING
    if parts and parts[0].status == c.TRUE:
        return PROVISIONED
    return PROVISIONING


def report(spec: ClusterSpec, observed: Observed, endpoint: str) -> Report:
    parts = observations(spec, observed)
    network = {
        key: observed.network_status[key]
        for key in ("vni", "subnet")
        if observed.network_status.get(key) is not None
    }
    fields: dict[str, Any] = {
        "endpoint": endpoint,
        "controlPlane": _counts(
            CONTROLPLANE, spec.control_plane.replicas, spec.kubernetes_version, observed.nodes
        ),
        "workers": _counts(WORKER, spec.workers.replicas, spec.kubernetes_version, observed.nodes),
    }
    if network:
        fields["network"] = network
    if observed.kubeconfig:
        fields["kubeconfigSecret"] = names.kubeconfig_secret(spec.name)
    live = [n for n in observed.nodes if not n.deleting]
    if live and all(n.version == spec.kubernetes_version for n in live):
        fields["kubernetesVersion"] = spec.kubernetes_version
    if observed.ca_rotation_status is not None:
        fields["caRotation"] = dict(observed.ca_rotation_status)
    if observed.health is not None:
        rechecks = (
            observed.health.recheck_at,
            observed.rotation_recheck,
            observed.sa_rotation_recheck,
            observed.ca_rotation_recheck,
        )
        moments = [m for m in rechecks if m]
        recheck = min(moments, default=None)
        # None removes it (a merge patch): nothing to look at again.
        fields["nextHealthCheckTime"] = cond.timestamp(recheck) if recheck else None
    return Report(phase=phase(spec, observed, parts), observations=tuple(parts), fields=fields)


def deleting(stage: str | None, remaining: int) -> Observation:
    """The ``Deleting`` condition: which stage of docs/design.md#deletion-order is in progress."""
    if stage is None:
        return Observation.true(c.DELETING, REASON_DELETING, "all children removed")
    return Observation.true(
        c.DELETING, REASON_DELETING, f"{REMOVING}{stage}: {remaining} objects left"
    )


REMOVING = "removing "


def deleting_stage(conditions: Sequence[Mapping[str, Any]]) -> str | None:
    """The stage the ``Deleting`` condition names (``deleting`` wrote it); None if none."""
    found = cond.get(list(conditions), c.DELETING) or {}
    message = str(found.get("message") or "")
    if found.get("reason") != REASON_DELETING or not message.startswith(REMOVING):
        return None
    return message.removeprefix(REMOVING).partition(":")[0] or None


@dataclass(frozen=True)
class Transition:
    type: str
    status: str
    reason: str
    message: str


def transitions(
    before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]
) -> list[Transition]:
    """Conditions whose status flipped (or appeared), and each node replacement:
    each becomes a Kubernetes Event."""
    old = {str(x.get("type")): str(x.get("status")) for x in before}
    replacing = {
        str(x.get("message")) for x in before if x.get("reason") == remediation.REMEDIATING
    }
    result = []
    for condition in after:
        type_ = str(condition.get("type"))
        status = str(condition.get("status"))
        # Each replacement of a node is announced, even one after another.
        replaced = condition.get("reason") == remediation.REMEDIATING and (
            str(condition.get("message")) not in replacing
        )
        if old.get(type_) != status or replaced:
            result.append(
                Transition(
                    type_,
                    status,
                    str(condition.get("reason") or ""),
                    str(condition.get("message") or ""),
                )
            )
    return result
