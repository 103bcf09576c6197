"""The cluster operator with the four others, as processes, on the local environment.

Covered: a Cluster reaches Ready with every child and no duplicates; workers
scale 2 -> 4 -> 1 (the newest removed first); pause stops the cluster and
marks every child paused, resume lifts it; deleting the Cluster leaves no
child object, Secret or Service behind; the operator SIGKILLed in the middle
of a creation converges after a restart with no duplicate children.
"""

from __future__ import annotations

import contextlib
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from shared.api import certificates as catalogue
from shared.api.kinds import ALL_KINDS, CLUSTER
from tests.localenv import LocalEnv
from tests.operators import RunningOperator, running_operator, wait_for
from tests.volumes import running_provisioner

READY_TIMEOUT = 240.0
CHILD_KINDS = ("certificates", "etcdclusters", "clusternetworks", "kvmnodes")


def cluster(name: str, namespace: str, workers: int = 2, **spec: Any) -> str:
    body = {
        "apiVersion": "g8s.io/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "baseDomain": f"{name}.g8s.local",
            "workers": {"replicas": workers},
            **spec,
        },
    }
    return json.dumps(body)


def get(env: LocalEnv, namespace: str, *what: str) -> dict[str, Any]:
    out = env.kubectl("get", *what, "-n", namespace, "-o", "json").stdout
    return dict(json.loads(out))


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item.get("type") == type_:
            return dict(item)
    return {}


def ready_cluster(env: LocalEnv, namespace: str, name: str) -> dict[str, Any] | None:
    obj = get(env, namespace, "cluster.g8s.io", name)
    if condition(obj, "Ready").get("status") != "True":
        return None
    if obj["status"].get("observedGeneration") != obj["metadata"]["generation"]:
        return None
    return obj


def children(env: LocalEnv, namespace: str, name: str) -> dict[str, list[dict[str, Any]]]:
    found = {}
    for plural in CHILD_KINDS:
        items = get(env, namespace, f"{plural}.g8s.io", "-l", f"g8s.io/cluster={name}")["items"]
        found[plural] = list(items)
    return found


def workers(env: LocalEnv, namespace: str, name: str) -> list[dict[str, Any]]:
    nodes = children(env, namespace, name)["kvmnodes"]
    return [n for n in nodes if n["spec"]["role"] == "worker"]


@contextlib.contextmanager
def suite(env: LocalEnv, namespace: str, log_dir: Path) -> Iterator[dict[str, RunningOperator]]:
    with contextlib.ExitStack() as stack:
        running = {
            kind.operator: stack.enter_context(
                running_operator(kind.operator, env=env.env(), namespace=namespace, log_dir=log_dir)
            )
            for kind in ALL_KINDS
        }
        try:
            yield running
        except BaseException:
            for operator in running.values():
                print(f"===== {operator.name} log (tail) =====\n{operator.log()[-6000:]}")
            raise


def _exactly(items: list[dict[str, Any]], count: int) -> list[dict[str, Any]] | None:
    return items if len(items) == count else None


def wait_ready(env: LocalEnv, namespace: str, name: str) -> dict[str, Any]:
    return wait_for(
        lambda: ready_cluster(env, namespace, name),
        timeout=READY_TIMEOUT,
        what=f"Cluster {name} Ready",
        interval=1.0,
    )


def test_create_scale_pause_delete(local_env: LocalEnv, namespace: str, tmp_path: Path) -> None:
    with running_provisioner(local_env, tmp_path), suite(local_env, namespace, tmp_path):
        local_env.kubectl("apply", "-f", "-", input=cluster("c1", namespace))
        obj = wait_ready(local_env, namespace, "c1")
        assert obj["status"]["phase"] == "Provisioned"
        assert obj["status"]["workers"]["readyReplicas"] == 2
        found = children(local_env, namespace, "c1")
        assert len(found["certificates"]) == len(catalogue.COMPONENTS)
        assert len(found["etcdclusters"]) == 1
        assert len(found["clusternetworks"]) == 1
        assert len(found["kvmnodes"]) == 3
        secrets = {s["metadata"]["name"] for s in get(local_env, namespace, "secrets")["items"]}
        assert {"c1-encryption", "c1-kubeconfig"} <= secrets
        key = get(local_env, namespace, "secret", "c1-encryption")["data"]["key"]

        patch = json.dumps({"spec": {"workers": {"replicas": 4}}})
        local_env.kubectl(
            "patch", "-n", namespace, "cluster.g8s.io", "c1", "--type=merge", "-p", patch
        )
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
        patch = json.dumps({"spec": {"workers": {"replicas": 1}}})
        local_env.kubectl(
            "patch", "-n", namespace, "cluster.g8s.io", "c1", "--type=merge", "-p", patch
        )
        remaining = wait_for(
            lambda: _exactly(workers(local_env, namespace, "c1"), 1),
            timeout=READY_TIMEOUT,
            what="1 worker left",
        )
        assert remaining[0]["metadata"]["name"] != newest["metadata"]["name"]
        wait_ready(local_env, namespace, "c1")

        local_env.kubectl(
            "patch",
            "-n",
            namespace,
            "cluster.g8s.io",
            "c1",
            "--type=merge",
            "-p",
            '{"spec":{"paused":true}}',
        )
        wait_for(
            lambda: all(
                (c["metadata"].get("annotations") or {}).get("g8s.io/paused") == "true"
                for items in children(local_env, namespace, "c1").values()
                for c in items
            ),
            timeout=60,
            what="every child paused",
        )
        paused = get(local_env, namespace, "cluster.g8s.io", "c1")
        assert condition(paused, "Paused").get("status") == "True"
        local_env.kubectl(
            "patch",
            "-n",
            namespace,
            "cluster.g8s.io",
            "c1",
            "--type=merge",
            "-p",
            '{"spec":{"paused":false}}',
        )
        wait_for(
            lambda: (
                not any(
                    (c["metadata"].get("annotations") or {}).get("g8s.io/paused")
                    for items in children(local_env, namespace, "c1").values()
                    for c in items
                )
            ),
            timeout=60,
            what="every child resumed",
        )
        assert get(local_env, namespace, "secret", "c1-encryption")["data"]["key"] == key

        local_env.kubectl("delete", "-n", namespace, "cluster.g8s.io", "c1", "--wait=false")
        wait_for(
            lambda: not get(local_env, namespace, "clusters.g8s.io")["items"],
            timeout=READY_TIMEOUT,
            what="Cluster c1 gone",
        )
        assert all(not items for items in children(local_env, namespace, "c1").values())
        left = {s["metadata"]["name"] for s in get(local_env, namespace, "secrets")["items"]}
        assert not {n for n in left if n.startswith("c1-")}


def test_sigkill_mid_creation_converges_without_duplicates(
    local_env: LocalEnv, namespace: str, tmp_path: Path
) -> None:
    with (
        running_provisioner(local_env, tmp_path),
        suite(local_env, namespace, tmp_path) as running,
    ):
        local_env.kubectl("apply", "-f", "-", input=cluster("k1", namespace))
        wait_for(
            lambda: children(local_env, namespace, "k1")["certificates"] or None,
            timeout=60,
            what="first children of k1",
        )
        running[CLUSTER.operator].process.send_signal(signal.SIGKILL)
        running[CLUSTER.operator].process.wait(timeout=10)
        again = tmp_path / "again"
        again.mkdir()
        with running_operator(
            CLUSTER.operator, env=local_env.env(), namespace=namespace, log_dir=again
        ):
            wait_ready(local_env, namespace, "k1")
            found = children(local_env, namespace, "k1")
            assert len(found["certificates"]) == len(catalogue.COMPONENTS)
            assert len(found["kvmnodes"]) == 3
            assert len(found["etcdclusters"]) == 1
            # Delete while the operators run: their finalizers would keep the namespace.
            local_env.kubectl("delete", "-n", namespace, "cluster.g8s.io", "k1", "--wait=false")
            wait_for(
                lambda: not get(local_env, namespace, "clusters.g8s.io")["items"],
                timeout=READY_TIMEOUT,
                what="Cluster k1 gone",
            )
