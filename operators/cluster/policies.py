"""Pure decisions of the cluster operator: scaling, rolling upgrades, deletion order.

Each returns what to do next and why; the reconcile applies it. One step at a
time: a plan never both waits and acts, so a paused or restarted operator
picks up exactly where the last plan left off.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from operators.cluster.model import CONTROLPLANE, WORKER


@dataclass(frozen=True)
class NodeState:
    """What the cluster operator sees of one KVMNode."""

    name: str
    role: str
    index: int
    version: str
    ready: bool
    # metadata.creationTimestamp (RFC 3339 sorts as time); "newest" is the latest.
    created: str
    deleting: bool = False
    # When the KVMNode's Ready condition last changed, and when it was first
    # Ready (status.firstReadyTime; empty while still starting).
    ready_since: str = ""
    first_ready: str = ""
    # The kvm operator could not ask the guest API about it (NodeReady
    # Unknown), or the Node is Ready and its API server still starting:
    # not Ready, but not known to be unhealthy either.
    unknown: bool = False


@dataclass(frozen=True)
class NodePlan:
    role: str
    create: tuple[int, ...] = ()
    delete: tuple[str, ...] = ()
    # Why nothing is done now (gated on a node); None when acting or done.
    waiting: str | None = None
    message: str = ""

    @property
    def idle(self) -> bool:
        return not self.create and not self.delete and self.waiting is None


def free_indexes(taken: Sequence[int], count: int) -> tuple[int, ...]:
    """The ``count`` lowest indexes not in ``taken``: indexes are stable and reused."""
    result: list[int] = []
    candidate = 0
    used = set(taken)
    while len(result) < count:
        if candidate not in used:
            result.append(candidate)
        candidate += 1
    return tuple(result)


def _newest_first(nodes: Sequence[NodeState]) -> list[NodeState]:
    return sorted(nodes, key=lambda n: (n.created, n.index), reverse=True)


def plan_role(
    role: str,
    nodes: Sequence[NodeState],
    *,
    desired: int,
    version: str,
    max_surge: int,
    max_unavailable: int,
    may_upgrade: bool = True,
) -> NodePlan:
    """The next step for the nodes of one role.

    Scaling up creates every missing node at once at the lowest free indexes;
    scaling down removes the newest nodes first. An upgrade replaces nodes of
    another version one at a time: a new node is added while there are fewer
    than ``desired + max_surge``, an old one removed only while the remaining
    ready nodes stay at least ``desired - max_unavailable``, and nothing more
    happens until a new node is Ready.
    """
    mine = [n for n in nodes if n.role == role]
    live = [n for n in mine if not n.deleting]
    taken = [n.index for n in mine]
    scaled = _scale(role, live, taken, desired=desired, version=version, max_surge=max_surge)
    if scaled is not None:
        return scaled
    if all(n.version == version for n in live):
        return NodePlan(role, message=f"{role}: {len(live)} nodes at {version}")
    if not may_upgrade:
        return NodePlan(role, waiting=f"{role} upgrade waits for the control plane")
    return _upgrade(
        role,
        mine,
        desired=desired,
        version=version,
        max_surge=max_surge,
        max_unavailable=max_unavailable,
    )


def _scale(
    role: str,
    live: Sequence[NodeState],
    taken: Sequence[int],
    *,
    desired: int,
    version: str,
    max_surge: int,
) -> NodePlan | None:
    if len(live) < desired:
        created = free_indexes(taken, desired - len(live))
        return NodePlan(role, create=created, message=f"scaling up {role} to {desired}")
    if len(live) == desired:
        return None
    excess = len(live) - desired
    old = [n for n in live if n.version != version]
    upgrading = bool(old) and len(old) < len(live)
    if upgrading and excess <= max_surge:
        # The surge nodes of a rollout: the upgrade removes old nodes once they are Ready.
        return None
    if upgrading:
        # Mid-upgrade the newest node is a surge node at the new version:
        # shrink by removing old nodes, which the upgrade would replace anyway.
        surplus = sorted(old, key=lambda n: (n.ready, n.created))[:excess]
    else:
        surplus = _newest_first(live)[:excess]
    removed = ", ".join(n.name for n in surplus)
    return NodePlan(
        role,
        delete=tuple(n.name for n in surplus),
        message=f"scaling down {role} to {desired}: removing {removed} (newest first)",
    )


def _upgrade(
    role: str,
    mine: Sequence[NodeState],
    *,
    desired: int,
    version: str,
    max_surge: int,
    max_unavailable: int,
) -> NodePlan:
    live = [n for n in mine if not n.deleting]
    unready_new = [n for n in live if n.version == version and not n.ready]
    if unready_new:
        return NodePlan(role, waiting=f"waiting for new node {unready_new[0].name} to be Ready")
    going = [n for n in mine if n.deleting]
    if going:
        return NodePlan(role, waiting=f"waiting for node {going[0].name} to be removed")
    if len(live) < desired + max_surge:
        index = free_indexes([n.index for n in mine], 1)
        return NodePlan(role, create=index, message=f"upgrading {role}: adding a node at {version}")
    ready = sum(1 for n in live if n.ready)
    if ready - 1 >= desired - max_unavailable:
        old = [n for n in live if n.version != version]
        victim = sorted(old, key=lambda n: (n.ready, n.created))[0]
        return NodePlan(
            role, delete=(victim.name,), message=f"upgrading {role}: replacing {victim.name}"
        )
    return NodePlan(
        role,
        waiting=f"upgrading {role}: {ready} ready nodes; maxUnavailable "
        f"{max_unavailable} forbids removing one",
    )


WORKERS_WAIT = "workers wait for the control plane to be initialized (a control-plane node Ready)"


def control_plane_initialized(nodes: Sequence[NodeState]) -> bool:
    """Workers are first made once a control plane serves (Cluster API's ControlPlaneInitialized).

    Booting them earlier only competes for the host's CPU with the control
    plane's own start, which on emulated hosts can then miss the API server's
    start-up deadlines; a worker could not join before anyway. Once workers
    exist, scaling them no longer waits.
    """
    return any(n.role == WORKER for n in nodes) or any(
        n.ready for n in nodes if n.role == CONTROLPLANE and not n.deleting
    )


def plan_nodes(
    nodes: Sequence[NodeState],
    *,
    desired: Mapping[str, int],
    version: str,
    max_surge: int,
    max_unavailable: int,
) -> tuple[NodePlan, NodePlan]:
    """Plans for the control plane and the workers: workers upgrade after the control plane."""
    control = plan_role(
        CONTROLPLANE,
        nodes,
        desired=desired[CONTROLPLANE],
        version=version,
        max_surge=max_surge,
        max_unavailable=max_unavailable,
    )
    settled = control.idle and all(
        n.ready and n.version == version for n in nodes if n.role == CONTROLPLANE
    )
    if not control_plane_initialized(nodes):
        return control, NodePlan(WORKER, waiting=WORKERS_WAIT)
    workers = plan_role(
        WORKER,
        nodes,
        desired=desired[WORKER],
        version=version,
        max_surge=max_surge,
        max_unavailable=max_unavailable,
        may_upgrade=settled,
    )
    return control, workers


def node_version(nodes: Sequence[NodeState], name: str, default: str) -> str:
    """The version an existing node keeps when re-applied (a rollout replaces, never mutates)."""
    for node in nodes:
        if node.name == name:
            return node.version
    return default


# docs/design.md#deletion-order: the order children are removed when a Cluster is deleted.
WORKERS = "workers"
CONTROL_PLANE = "controlplane"
ETCD = "etcd"
NETWORK = "network"
CERTIFICATES = "certificates"
DELETION_ORDER: tuple[str, ...] = (WORKERS, CONTROL_PLANE, ETCD, NETWORK, CERTIFICATES)


def deletion_stage(remaining: Mapping[str, int]) -> str | None:
    """The first stage in DELETION_ORDER that still has objects; None when all are gone."""
    for stage in DELETION_ORDER:
        if remaining.get(stage, 0) > 0:
            return stage
    return None
