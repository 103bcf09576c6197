"""Node remediation by the cluster operator, as a process against the real API server.

Only the cluster operator runs. The test writes each KVMNode's status as the
kvm operator would (Ready with its lastTransitionTime, firstReadyTime), so the
moment a node stopped being Ready is whatever the case needs. With no kvm
operator there is no finalizer: a KVMNode the cluster operator deletes is gone
at once, and its replacement is a new KVMNode at another index.

Covered: a worker found not Ready is waited for, then replaced by the health
timer alone once its ``unhealthyTimeout`` ends (no child changes meanwhile),
with a Warning Event; with more unhealthy nodes than ``maxUnhealthy`` none is
replaced (``TooManyUnhealthy``), and once one recovers the other is.
(On a real guest, a wedged QEMU: tests/e2e/test_real_guests.py.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cluster.helpers import apply, cluster, condition, events
from tests.localenv import LocalEnv
from tests.operators import RunningOperator, running_operator, wait_for

TIMEOUT = 30


@pytest.fixture
def cluster_operator(
    local_env: LocalEnv, namespace: str, tmp_path: Path
) -> Iterator[RunningOperator]:
    env = {**local_env.env(), "G8S_LOG_LEVEL": "INFO"}
    with running_operator("cluster", env=env, namespace=namespace, log_dir=tmp_path) as op:
        yield op
        print("\n".join(op.log().splitlines()[-40:]))


def moment(ago: float = 0) -> str:
    return (datetime.now(UTC) - timedelta(seconds=ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def nodes(env: LocalEnv, namespace: str) -> dict[str, dict[str, Any]]:
    out = env.kubectl("get", "kvmnodes.g8s.io", "-n", namespace, "-o", "json").stdout
    return {n["metadata"]["name"]: n for n in json.loads(out)["items"]}


def by_role(env: LocalEnv, namespace: str, role: str) -> list[str]:
    return sorted(n for n, body in nodes(env, namespace).items() if body["spec"]["role"] == role)


def set_ready(env: LocalEnv, namespace: str, name: str, ready: bool, since: str) -> None:
    """Write the KVMNode's status as the kvm operator would, for its current generation
    (the cluster operator may still change a new node's spec, e.g. its API endpoint)."""
    generation = nodes(env, namespace)[name]["metadata"]["generation"]
    status = {
        "observedGeneration": generation,
        "firstReadyTime": moment(600),
        "conditions": [
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "reason": "GuestNodeReady" if ready else "GuestNodeNotReady",
                "message": "written by the test",
                "lastTransitionTime": since,
                "observedGeneration": generation,
            }
        ],
    }
    env.kubectl(
        "patch", "kvmnodes.g8s.io", name, "-n", namespace, "--subresource=status",
        "--type=merge", "-p", json.dumps({"status": status}),
    )  # fmt: skip


def cluster_status(env: LocalEnv, namespace: str, name: str) -> dict[str, Any]:
    out = env.kubectl("get", "clusters.g8s.io", name, "-n", namespace, "-o", "json").stdout
    return dict(json.loads(out))


def health(env: LocalEnv, namespace: str, name: str) -> dict[str, Any]:
    return condition(cluster_status(env, namespace, name), "NodesHealthy")


def wait_health(env: LocalEnv, namespace: str, name: str, reason: str) -> dict[str, Any]:
    """NodesHealthy once its reason is ``reason``; the last one seen if it never is."""
    last: dict[str, Any] = {}

    def probe() -> dict[str, Any] | None:
        nonlocal last
        last = health(env, namespace, name)
        return last if last.get("reason") == reason else None

    try:
        return wait_for(probe, timeout=TIMEOUT + 60, what=f"NodesHealthy {reason}")
    except TimeoutError:
        seen = {
            node: (body["metadata"]["creationTimestamp"], body.get("status"))
            for node, body in nodes(env, namespace).items()
        }
        raise AssertionError(f"NodesHealthy never {reason}; last: {last}; nodes: {seen}") from None


def start(env: LocalEnv, namespace: str, name: str, workers: int, max_unhealthy: str) -> None:
    """A Cluster whose nodes are all Ready (as the test says)."""
    remediation = {"unhealthyTimeout": f"{TIMEOUT}s", "maxUnhealthy": max_unhealthy}
    apply(env, cluster(name, namespace, workers=workers, remediation=remediation))
    control = wait_for(
        lambda: by_role(env, namespace, "controlplane") or None, timeout=60, what="control plane"
    )
    set_ready(env, namespace, control[0], True, moment(300))
    wait_for(lambda: len(by_role(env, namespace, "worker")) == workers, timeout=60, what="workers")

    def all_healthy() -> bool:
        for node, body in nodes(env, namespace).items():
            seen = (body.get("status") or {}).get("observedGeneration")
            if seen != body["metadata"]["generation"]:
                set_ready(env, namespace, node, True, moment(300))
        return health(env, namespace, name).get("reason") == "AllHealthy"

    wait_for(all_healthy, timeout=60, what="NodesHealthy AllHealthy", interval=2.0)


def test_a_worker_past_its_timeout_is_replaced_by_the_health_timer(
    local_env: LocalEnv, namespace: str, cluster_operator: RunningOperator
) -> None:
    start(local_env, namespace, "r1", workers=2, max_unhealthy="1")
    sick = by_role(local_env, namespace, "worker")[0]
    # Just stopped being Ready: waited for. Nothing changes after this write,
    # so only the health timer can find the timeout's end.
    set_ready(local_env, namespace, sick, False, moment())
    waiting = wait_health(local_env, namespace, "r1", "NodesNotReady")
    assert waiting["status"] == "Unknown"
    assert sick in waiting["message"]
    assert sick in nodes(local_env, namespace)
    wait_for(
        lambda: sick not in nodes(local_env, namespace),
        timeout=TIMEOUT + 60,
        what=f"{sick} replaced",
    )
    workers = by_role(local_env, namespace, "worker")
    assert len(workers) == 2
    assert sick not in workers
    seen = wait_for(
        lambda: events(local_env, namespace, "r1", reason="Remediating"),
        timeout=30,
        what="an Event",
    )
    assert any(sick in message for message in seen), seen


def test_too_many_unhealthy_replaces_none_until_one_recovers(
    local_env: LocalEnv, namespace: str, cluster_operator: RunningOperator
) -> None:
    start(local_env, namespace, "r2", workers=3, max_unhealthy="1")
    first, second, _ = by_role(local_env, namespace, "worker")
    # Both stop at the same moment, so that both fall due in the same pass. (Two
    # writes of nodes already overdue would be judged one at a time, and each,
    # alone, be replaced: Cluster API's rule too.)
    since = moment()
    for name in (first, second):
        set_ready(local_env, namespace, name, False, since)
    held = wait_health(local_env, namespace, "r2", "TooManyUnhealthy")
    assert held["status"] == "False"
    assert "more than maxUnhealthy 1" in held["message"]
    present = nodes(local_env, namespace)
    assert first in present
    assert second in present
    set_ready(local_env, namespace, first, True, moment())
    wait_for(
        lambda: second not in nodes(local_env, namespace),
        timeout=60,
        what=f"{second} replaced once {first} recovered",
    )
    assert first in nodes(local_env, namespace)
    assert len(by_role(local_env, namespace, "worker")) == 3
