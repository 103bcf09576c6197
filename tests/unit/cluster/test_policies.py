"""Scaling, rolling upgrades and deletion order as pure decisions.

The upgrade test simulates a whole rollout step by step and checks, at every
step, that ready nodes never drop below desired - maxUnavailable.
"""

from operators.cluster import policies
from operators.cluster.policies import NodeState, plan_nodes, plan_role

V1, V2 = "1.33.0", "1.34.2"


def node(
    name: str,
    index: int,
    *,
    role: str = "worker",
    version: str = V1,
    ready: bool = True,
    created: str = "",
) -> NodeState:
    return NodeState(name, role, index, version, ready, created or f"t{index:02d}")


def test_scale_up_creates_missing_nodes_at_lowest_free_indexes() -> None:
    plan = plan_role(
        "worker", [node("a", 1)], desired=4, version=V1, max_surge=1, max_unavailable=0
    )
    assert plan.create == (0, 2, 3)
    assert plan.delete == ()


def test_scale_down_removes_the_newest_first_and_says_so() -> None:
    nodes = [
        node("old", 0, created="t01"),
        node("newest", 1, created="t09"),
        node("mid", 2, created="t05"),
    ]
    plan = plan_role("worker", nodes, desired=1, version=V1, max_surge=1, max_unavailable=0)
    assert plan.delete == ("newest", "mid")
    assert "newest first" in plan.message
    assert "newest" in plan.message


def test_nothing_to_do_is_idle() -> None:
    plan = plan_role(
        "worker", [node("a", 0)], desired=1, version=V1, max_surge=1, max_unavailable=0
    )
    assert plan.idle


def simulate(desired: int, surge: int, unavailable: int) -> list[int]:
    """Run a rollout to the end; new nodes become Ready one plan after creation."""
    nodes = [node(f"old{i}", i) for i in range(desired)]
    ready_counts = []
    clock = 10
    for _ in range(50):
        control, workers = plan_nodes(
            nodes,
            desired={"controlplane": 0, "worker": desired},
            version=V2,
            max_surge=surge,
            max_unavailable=unavailable,
        )
        assert control.idle
        if workers.idle:
            break
        # Nodes created by the previous plan have booted by now.
        nodes = [NodeState(n.name, n.role, n.index, n.version, True, n.created) for n in nodes]
        nodes = [n for n in nodes if n.name not in workers.delete]
        for index in workers.create:
            clock += 1
            nodes.append(node(f"new{index}", index, version=V2, ready=False, created=f"t{clock}"))
        ready_counts.append(sum(1 for n in nodes if n.ready))
    assert all(n.version == V2 for n in nodes)
    assert len(nodes) == desired
    return ready_counts


def test_rollout_with_max_surge_never_drops_below_desired() -> None:
    counts = simulate(desired=3, surge=1, unavailable=0)
    assert counts
    assert min(counts) >= 3


def test_rollout_with_max_unavailable_keeps_the_floor() -> None:
    counts = simulate(desired=3, surge=0, unavailable=1)
    assert min(counts) >= 2


def test_rollout_waits_for_the_new_node() -> None:
    nodes = [node("old0", 0), node("new1", 1, version=V2, ready=False)]
    plan = plan_role("worker", nodes, desired=1, version=V2, max_surge=1, max_unavailable=0)
    assert plan.create == ()
    assert plan.delete == ()
    assert plan.waiting is not None
    assert "new1" in plan.waiting


def test_workers_upgrade_after_the_control_plane() -> None:
    nodes = [node("cp0", 0, role="controlplane"), node("w0", 0)]
    control, workers = plan_nodes(
        nodes, desired={"controlplane": 1, "worker": 1}, version=V2, max_surge=1, max_unavailable=0
    )
    assert control.create == (1,)
    assert workers.create == ()
    assert workers.waiting is not None


def test_workers_are_first_made_once_a_control_plane_node_is_ready() -> None:
    desired = {"controlplane": 1, "worker": 2}
    starting = [node("cp0", 0, role="controlplane", ready=False)]
    control, workers = plan_nodes(
        starting, desired=desired, version=V1, max_surge=1, max_unavailable=0
    )
    assert (control.create, workers.create) == ((), ())
    assert workers.waiting == policies.WORKERS_WAIT
    serving = [node("cp0", 0, role="controlplane")]
    _, workers = plan_nodes(serving, desired=desired, version=V1, max_surge=1, max_unavailable=0)
    assert workers.create == (0, 1)
    # Once workers exist, scaling them does not wait for the control plane again.
    later = [node("cp0", 0, role="controlplane", ready=False), node("w0", 0)]
    _, workers = plan_nodes(later, desired=desired, version=V1, max_surge=1, max_unavailable=0)
    assert workers.create == (1,)


def test_deletion_order() -> None:
    assert policies.DELETION_ORDER == ("workers", "controlplane", "etcd", "network", "certificates")
    assert policies.deletion_stage({"certificates": 3, "etcd": 1}) == "etcd"
    assert policies.deletion_stage({"workers": 0, "certificates": 1}) == "certificates"
    assert policies.deletion_stage({}) is None
