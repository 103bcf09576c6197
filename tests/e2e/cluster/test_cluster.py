"""The cluster operator with the four others, as processes, on the local environment.

Covered: a Cluster reaches Ready with every child and no duplicates; workers
scale 2 -> 4 -> 1 (the newest removed first); pause stops the cluster and
marks every child paused, resume lifts it; deleting the Cluster leaves no
child object, Secret or Service behind; the operator SIGKILLed in the middle
of a creation converges after a restart with no duplicate children.
"""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path
from typing import Any

from shared.api.kinds import CLUSTER
from tests.e2e.cluster.helpers import (
    READY_TIMEOUT,
    apply,
    children,
    cluster,
    condition,
    delete_and_wait,
    expected_children,
    get,
    patch,
    pause_marks,
    ready_cluster,
    suite,
    wait_ready,
)
from tests.localenv import LocalEnv
from tests.operators import running_operator, wait_for


def workers(env: LocalEnv, namespace: str, name: str) -> list[dict[str, Any]]:
    nodes = children(env, namespace, name)["kvmnodes"]
    return [n for n in nodes if n["spec"]["role"] == "worker"]


def counts(found: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    return {plural: len(items) for plural, items in found.items()}


def _exactly(items: list[dict[str, Any]], count: int) -> list[dict[str, Any]] | None:
    return items if len(items) == count else None


def test_create_scale_pause_delete(local_env: LocalEnv, namespace: str, tmp_path: Path) -> None:
    with suite(local_env, namespace, tmp_path):
        apply(local_env, cluster("c1", namespace))
        obj = wait_ready(local_env, namespace, "c1")
        assert obj["status"]["phase"] == "Provisioned"
        assert obj["status"]["workers"]["readyReplicas"] == 2
        found = children(local_env, namespace, "c1")
        assert counts(found) == expected_children("c1", control_plane=1, workers=2)
        secrets = {s["metadata"]["name"] for s in get(local_env, namespace, "secrets")["items"]}
        assert {"c1-encryption", "c1-kubeconfig"} <= secrets
        key = get(local_env, namespace, "secret", "c1-encryption")["data"]["key"]

        patch(local_env, namespace, "c1", {"spec": {"workers": {"replicas": 4}}})
        wait_for(
            lambda: (
                len(workers(local_env, namespace, "c1")) == 4
                and ready_cluster(local_env, namespace, "c1")
            ),
            timeout=READY_TIMEOUT,
            what="4 workers Ready",
        )
        newest = max(
            workers(local_env, namespace, "c1"), key=lambda n: n["metadata"]["creationTimestamp"]
        )
        patch(local_env, namespace, "c1", {"spec": {"workers": {"replicas": 1}}})
        remaining = wait_for(
            lambda: _exactly(workers(local_env, namespace, "c1"), 1),
            timeout=READY_TIMEOUT,
            what="1 worker left",
        )
        assert remaining[0]["metadata"]["name"] != newest["metadata"]["name"]
        wait_ready(local_env, namespace, "c1")

        patch(local_env, namespace, "c1", {"spec": {"paused": True}})
        wait_for(
            lambda: all(mark == "true" for mark in pause_marks(local_env, namespace, "c1")),
            timeout=60,
            what="every child paused",
        )
        paused = get(local_env, namespace, "cluster.g8s.io", "c1")
        assert condition(paused, "Paused").get("status") == "True"
        patch(local_env, namespace, "c1", {"spec": {"paused": False}})
        wait_for(
            lambda: not any(pause_marks(local_env, namespace, "c1")),
            timeout=60,
            what="every child resumed",
        )
        assert get(local_env, namespace, "secret", "c1-encryption")["data"]["key"] == key

        delete_and_wait(local_env, namespace, "c1", timeout=READY_TIMEOUT)
        assert all(not items for items in children(local_env, namespace, "c1").values())
        left = {s["metadata"]["name"] for s in get(local_env, namespace, "secrets")["items"]}
        assert not {n for n in left if n.startswith("c1-")}


def test_sigkill_mid_creation_converges_without_duplicates(
    local_env: LocalEnv, namespace: str, tmp_path: Path
) -> None:
    # The restarted operator outlives the suite, which checks on leaving that
    # every operator it yielded (the replacement among them) still runs.
    with contextlib.ExitStack() as restarted, suite(local_env, namespace, tmp_path) as running:
        apply(local_env, cluster("k1", namespace))
        wait_for(
            lambda: children(local_env, namespace, "k1")["certificates"] or None,
            timeout=60,
            what="first children of k1",
        )
        running[CLUSTER.operator].process.send_signal(signal.SIGKILL)
        running[CLUSTER.operator].process.wait(timeout=10)
        again = tmp_path / "again"
        again.mkdir()
        running[CLUSTER.operator] = restarted.enter_context(
            running_operator(
                CLUSTER.operator, env=local_env.env(), namespace=namespace, log_dir=again
            )
        )
        wait_ready(local_env, namespace, "k1")
        found = children(local_env, namespace, "k1")
        assert counts(found) == expected_children("k1", control_plane=1, workers=2)
        delete_and_wait(local_env, namespace, "k1", timeout=READY_TIMEOUT)
