"""Scenario 5, children tampered with by hand: repaired to the parent's intent.

One Ready Cluster; then, one after another, each of these is done by hand
and must be undone by the operators on their own (never taken as the new
truth):

- a TLS Secret's key swapped for another cluster's (key and certificate no
  longer match) -> re-issued (``SecretTampered``);
- a TLS Secret's certificate replaced by garbage -> re-issued;
- a worker KVMNode deleted -> created again by the cluster operator;
- the EtcdCluster's spec edited against the Cluster (replicas) -> reverted;
- a launcher Deployment scaled to 0 -> scaled back;
- the launcher Deployment's owner reference removed -> restored;
- the KVMNode's finalizer removed -> put back.

Afterwards the Cluster is Ready, has no duplicate child, and its CA is the one
it had (``data lost`` counts a changed CA and any broken TLS Secret).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.e2e.cluster.helpers import apply, cluster
from tests.localenv import LocalEnv, find_json, get_json
from tests.operators import wait_for
from tests.reliability.faults import (
    Summary,
    broken,
    ca_of,
    children_count,
    clusters,
    items,
    pki_damage,
    ready,
    supervised,
)

NAME = "tamper"
OTHER = "tamper-other"
WORKERS = 1
TIMEOUT = 180.0
FINALIZER = "kvm.g8s.io/finalizer"  # shared.identity: <operator>.g8s.io/finalizer


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def patch(
    env: LocalEnv, namespace: str, what: str, change: dict[str, Any], kind: str = "merge"
) -> None:
    env.kubectl("patch", "-n", namespace, what, f"--type={kind}", "-p", json.dumps(change))


def test_children_tampered_with_are_repaired(
    local_env: LocalEnv, namespace: str, tmp_path: Path
) -> None:
    summary = Summary("tampering", clusters=2)
    ns = namespace

    def get(*what: str) -> dict[str, Any] | None:
        return find_json(local_env, ns, *what)

    def repaired(what: str, check: Callable[[], bool]) -> None:
        wait_for(check, timeout=TIMEOUT, what=f"repaired: {what}", interval=1.0)
        summary.faults += 1

    with supervised(local_env, ns, tmp_path):
        apply(local_env, cluster(NAME, ns, workers=WORKERS), cluster(OTHER, ns, workers=0))
        wait_for(
            lambda: sum(ready(c) for c in clusters(local_env, ns).values()) == 2,
            timeout=TIMEOUT * 2,
            what="both Clusters Ready",
            interval=2.0,
        )
        ca = ca_of(local_env, ns, NAME)
        counts = children_count(local_env, ns, NAME)

        # A key that does not belong to the certificate.
        secret = f"{NAME}-admin"
        original = get_json(local_env, ns, "secret", secret)["data"]
        stranger = get_json(local_env, ns, "secret", f"{OTHER}-admin")["data"]["tls.key"]
        patch(local_env, ns, f"secret/{secret}", {"data": {"tls.key": stranger}})
        repaired(
            "a key swapped",
            lambda: (
                (s := get("secret", secret)) is not None
                and s["data"]["tls.crt"] != original["tls.crt"]
                and not broken(s, ca)
            ),
        )

        # A certificate replaced by garbage.
        before = get_json(local_env, ns, "secret", secret)["data"]["tls.crt"]
        patch(local_env, ns, f"secret/{secret}", {"data": {"tls.crt": b64(b"garbage")}})
        repaired(
            "a certificate replaced by garbage",
            lambda: (
                (s := get("secret", secret)) is not None
                and s["data"]["tls.crt"] not in (before, b64(b"garbage"))
                and not broken(s, ca)
            ),
        )

        # A worker KVMNode deleted: the cluster operator makes a new one (a
        # new name: a replacement node, as a MachineSet makes a new Machine).
        def workers() -> list[dict[str, Any]]:
            nodes = items(local_env, ns, "kvmnodes.g8s.io", "-l", f"g8s.io/cluster={NAME}")
            return [n for n in nodes if n["spec"]["role"] == "worker"]

        gone = workers()[0]["metadata"]["name"]
        local_env.kubectl("delete", "-n", ns, "kvmnode.g8s.io", gone, "--wait=false")
        repaired(
            "a KVMNode deleted",
            lambda: (
                len(now := workers()) == WORKERS
                and all(n["metadata"]["name"] != gone and ready(n) for n in now)
            ),
        )
        node = workers()[0]["metadata"]["name"]

        # The EtcdCluster edited against its Cluster.
        etcd = get_json(local_env, ns, "etcdcluster.g8s.io", NAME)
        replicas = etcd["spec"]["replicas"]
        patch(local_env, ns, f"etcdcluster.g8s.io/{NAME}", {"spec": {"replicas": replicas + 2}})
        repaired(
            "an EtcdCluster edited",
            lambda: (
                (e := get("etcdcluster.g8s.io", NAME)) is not None
                and e["spec"]["replicas"] == replicas
            ),
        )

        # A launcher Deployment scaled to 0.
        local_env.kubectl("scale", "-n", ns, f"deployment/{node}", "--replicas=0")
        repaired(
            "a Deployment scaled to 0",
            lambda: (d := get("deployment", node)) is not None and d["spec"]["replicas"] == 1,
        )

        # Its owner reference removed.
        patch(local_env, ns, f"deployment/{node}", {"metadata": {"ownerReferences": None}})
        repaired(
            "an owner reference removed",
            lambda: (
                (d := get("deployment", node)) is not None
                and any(r["kind"] == "KVMNode" for r in d["metadata"].get("ownerReferences") or [])
            ),
        )

        # The KVMNode's finalizer removed.
        patch(local_env, ns, f"kvmnode.g8s.io/{node}", {"metadata": {"finalizers": None}})
        repaired(
            "a finalizer removed",
            lambda: (
                (n := get("kvmnode.g8s.io", node)) is not None
                and FINALIZER in (n["metadata"].get("finalizers") or [])
            ),
        )

        wait_for(
            lambda: all(ready(c) for c in clusters(local_env, ns).values()),
            timeout=TIMEOUT,
            what="both Clusters Ready again",
            interval=2.0,
        )
        summary.converged = sum(ready(c) for c in clusters(local_env, ns).values())
        after = children_count(local_env, ns, NAME)
        summary.leaked += [
            f"{kind}: {after[kind]} for {want}"
            for kind, want in counts.items()
            if after[kind] > want
        ]
        summary.lost += pki_damage(local_env, ns, NAME, ca)
        local_env.kubectl(
            "delete", "clusters.g8s.io", NAME, OTHER, "-n", ns, "--timeout=300s", timeout=330
        )
    summary.check()
