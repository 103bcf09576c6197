"""A rolling Kubernetes version upgrade of a Cluster, paused and resumed half-way.

Covered, with the five operators as processes on the local environment: a
Cluster with 1 control-plane node and 3 workers, ``rollout.maxSurge: 1`` and
``maxUnavailable: 0``, is upgraded to the next minor version. The KVMNodes are
watched through the whole rollout and every state the API server went through
is checked: ready nodes of a role never drop below desired - maxUnavailable,
never more than desired + maxSurge nodes of a role exist, the control plane is
replaced (the old node gone, the new one Ready) before any worker changes.
Half-way through the workers the Cluster is paused (``spec.paused``): the set
of KVMNodes stays the same for 20 s; resumed, the rollout completes with every
node replaced at the new version and the Cluster Ready, UpToDate and
reporting the new version, its progress (phase Upgrading, UpToDate False
while rolling out, updated counts going up) visible in its status meanwhile.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.e2e.cluster.helpers import (
    CLUSTER_LABEL,
    Event,
    apply,
    children,
    cluster,
    condition,
    delete_and_wait,
    get,
    is_ready,
    observed,
    patch,
    pause_marks,
    replay,
    suite,
    wait_ready,
    watching,
)
from tests.localenv import LocalEnv
from tests.operators import wait_for

OLD, NEW = "1.34.2", "1.35.0"
CONTROL_PLANE, WORKERS = 1, 3
SURGE, UNAVAILABLE = 1, 0
DESIRED = {"controlplane": CONTROL_PLANE, "worker": WORKERS}
PAUSE_HOLD = 20.0
ROLLOUT_TIMEOUT = 600.0


def role(obj: dict[str, Any]) -> str:
    return str(obj["spec"]["role"])


def version(obj: dict[str, Any]) -> str:
    return str(obj["spec"]["kubernetesVersion"])


def deleting(obj: dict[str, Any]) -> bool:
    return bool(obj["metadata"].get("deletionTimestamp"))


def check_bounds(history: list[tuple[Event, dict[str, dict[str, Any]]]]) -> dict[str, int]:
    """At every state: at most desired + maxSurge nodes, at least desired - maxUnavailable ready.

    Returns the most worker nodes that existed at once.
    """
    most = 0
    for event, state in history:
        for name, desired in DESIRED.items():
            mine = [o for o in state.values() if role(o) == name]
            ready = [o for o in mine if is_ready(o) and not deleting(o)]
            where = f"after {event.type} {event.name}: {sorted(state)}"
            assert len(mine) <= desired + SURGE, f"{len(mine)} {name} nodes exist {where}"
            assert len(ready) >= desired - UNAVAILABLE, f"{len(ready)} {name} nodes ready {where}"
            if name == "worker":
                most = max(most, len(mine))
    return {"most workers": most, "states": len(history)}


def worker_changed(event: Event) -> bool:
    """A worker of the rollout: a new one added, or an old one going."""
    if role(event.obj) != "worker":
        return False
    if event.type == "ADDED":
        return version(event.obj) == NEW
    return event.type == "DELETED" or deleting(event.obj)


def control_plane_replaced(state: dict[str, dict[str, Any]]) -> bool:
    control = [o for o in state.values() if role(o) == "controlplane"]
    return bool(control) and all(version(o) == NEW and is_ready(o) for o in control)


def check_control_plane_first(history: list[tuple[Event, dict[str, dict[str, Any]]]]) -> None:
    replaced = next((i for i, (_, s) in enumerate(history) if control_plane_replaced(s)), None)
    first_worker = next((i for i, (e, _) in enumerate(history) if worker_changed(e)), None)
    assert replaced is not None, "the control plane was never replaced"
    assert first_worker is not None, "no worker was ever replaced"
    event = history[first_worker][0]
    assert replaced < first_worker, (
        f"worker {event.name} changed ({event.type}) before the control plane was replaced"
    )


def check_progress(events: list[Event]) -> None:
    """The Cluster's status showed the rollout while it ran."""
    statuses = [e.obj.get("status") or {} for e in events if e.type != "DELETED"]
    assert any(s.get("phase") == "Upgrading" for s in statuses)
    rolling = [
        condition({"status": s}, "UpToDate")
        for s in statuses
        if condition({"status": s}, "UpToDate").get("reason") == "RollingOut"
    ]
    assert rolling, "UpToDate never showed RollingOut"
    assert all(r["status"] == "False" and f"not at {NEW}" in r["message"] for r in rolling)
    updated = {int((s.get("workers") or {}).get("updatedReplicas", -1)) for s in statuses}
    assert {1, 2} <= updated, f"workers.updatedReplicas went through {sorted(updated)}"
    assert any(condition({"status": s}, "Paused").get("status") == "True" for s in statuses)


def rollout_done(env: LocalEnv, namespace: str, name: str) -> dict[str, Any] | None:
    obj = get(env, namespace, "cluster.g8s.io", name)
    status = obj.get("status") or {}
    if not (is_ready(obj) and observed(obj)) or status.get("kubernetesVersion") != NEW:
        return None
    nodes = children(env, namespace, name)["kvmnodes"]
    if len(nodes) != CONTROL_PLANE + WORKERS or any(version(n) != NEW for n in nodes):
        return None
    return obj


def test_rolling_upgrade_paused_and_resumed(
    local_env: LocalEnv, namespace: str, tmp_path: Path
) -> None:
    name = "u1"
    manifest = cluster(
        name,
        namespace,
        workers=WORKERS,
        kubernetesVersion=OLD,
        controlPlane={"replicas": CONTROL_PLANE},
        rollout={"maxSurge": SURGE, "maxUnavailable": UNAVAILABLE},
    )
    with suite(local_env, namespace, tmp_path):
        apply(local_env, manifest)
        wait_ready(local_env, namespace, name)
        before = {n["metadata"]["uid"] for n in children(local_env, namespace, name)["kvmnodes"]}
        selector = f"{CLUSTER_LABEL}={name}"
        with (
            watching(local_env, namespace, "kvmnodes.g8s.io", selector) as nodes,
            watching(local_env, namespace, "clusters.g8s.io") as clusters,
        ):
            nodes.wait_listed(CONTROL_PLANE + WORKERS)
            clusters.wait_listed(1)
            listed = len(nodes.events())
            started = time.monotonic()
            patch(local_env, namespace, name, {"spec": {"kubernetesVersion": NEW}})

            wait_for(
                lambda: any(
                    role(o) == "worker" and version(o) == NEW for o in nodes.current().values()
                ),
                timeout=ROLLOUT_TIMEOUT,
                what="the first worker at the new version",
            )
            patch(local_env, namespace, name, {"spec": {"paused": True}})
            wait_for(
                lambda: (
                    condition(get(local_env, namespace, "cluster.g8s.io", name), "Paused").get(
                        "status"
                    )
                    == "True"
                    and all(mark == "true" for mark in pause_marks(local_env, namespace, name))
                ),
                timeout=60,
                what="the Cluster and every child paused",
            )
            # A node whose removal began before the pause finishes going (its
            # own operator's finalizer): the pause stops what comes next.
            wait_for(
                lambda: not any(deleting(o) for o in nodes.current().values()),
                timeout=60,
                what="no node being removed",
            )
            frozen = {n: version(o) for n, o in nodes.current().items()}
            hold = time.monotonic()
            time.sleep(PAUSE_HOLD)
            during = [e for e in nodes.events() if e.at >= hold]
            assert {n: version(o) for n, o in nodes.current().items()} == frozen
            assert not [e for e in during if e.type in ("ADDED", "DELETED") or deleting(e.obj)]
            assert OLD in frozen.values(), "the pause came after the rollout had ended"

            patch(local_env, namespace, name, {"spec": {"paused": False}})
            final = wait_for(
                lambda: rollout_done(local_env, namespace, name),
                timeout=ROLLOUT_TIMEOUT,
                what=f"every node at {NEW} and the Cluster Ready",
                interval=1.0,
            )
            took = time.monotonic() - started
            # The watch may trail the API server by a moment.
            wait_for(
                lambda: (
                    len(nodes.current()) == CONTROL_PLANE + WORKERS
                    and all(version(o) == NEW for o in nodes.current().values())
                ),
                timeout=30,
                what="the watch to see the final nodes",
            )
            assert nodes.alive, "the node watch ended early"
            assert clusters.alive, "the Cluster watch ended early"
        # From the state the initial listing built up, before the rollout began.
        history = replay(nodes.events())[listed - 1 :]
        cluster_events = clusters.events()

        print(
            f"rollout of {CONTROL_PLANE + WORKERS} nodes: {took:.1f} s ({PAUSE_HOLD:.0f} s paused)"
        )
        bounds = check_bounds(history)
        print(f"rollout states checked: {bounds}")
        # maxUnavailable 0 leaves the surge as the only way forward.
        assert bounds["most workers"] == WORKERS + SURGE
        check_control_plane_first(history)
        check_progress(cluster_events)
        assert condition(final, "UpToDate")["status"] == "True"
        assert final["status"]["phase"] == "Provisioned"
        assert final["status"]["workers"]["updatedReplicas"] == WORKERS
        assert final["status"]["controlPlane"]["updatedReplicas"] == CONTROL_PLANE
        after = children(local_env, namespace, name)["kvmnodes"]
        assert all(is_ready(n) for n in after)
        # Names come back (indexes are reused); the objects are new.
        assert not before & {n["metadata"]["uid"] for n in after}, "a node was not replaced"

        delete_and_wait(local_env, namespace, name, timeout=240)
