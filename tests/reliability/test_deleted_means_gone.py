"""Scenario 1, deleted means gone: tried as a user would, with ``kubectl delete cluster``.

kubectl's delete waits until the Cluster has gone. The moment it returns,
nothing made for the cluster may be left: no object labelled with it (child
CRs, Deployments, ReplicaSets, pods, the StatefulSet, Services, Secrets,
ConfigMaps, budgets, policies, claims), no PersistentVolume of its claims, no
Vault PKI mount, no network allocation record. Before the delete, the same
check finds all of those present, so it cannot pass by looking in the wrong
place. (VM processes are checked the same way on real guests:
tests/e2e/test_real_guests.py.)
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.e2e.cluster.helpers import apply, cluster
from tests.localenv import LocalEnv
from tests.operators import wait_for
from tests.reliability.faults import Summary, clusters, leftovers, network_uid, ready, supervised

NAMES = ("gone-a", "gone-b")
READY_TIMEOUT = 300.0


def test_nothing_of_a_cluster_is_left_when_kubectl_delete_returns(
    local_env: LocalEnv, namespace: str, tmp_path: Path
) -> None:
    summary = Summary("deleted-means-gone", clusters=len(NAMES))
    with supervised(local_env, namespace, tmp_path):
        apply(local_env, *(cluster(name, namespace, workers=1) for name in NAMES))
        wait_for(
            lambda: (
                all(ready(c) for c in clusters(local_env, namespace).values())
                and len(clusters(local_env, namespace)) == len(NAMES)
            ),
            timeout=READY_TIMEOUT,
            what="both Clusters Ready",
            interval=2.0,
        )
        uids = {name: [network_uid(local_env, namespace, name)] for name in NAMES}
        for name in NAMES:
            present = leftovers(local_env, namespace, name, uids[name])
            kinds = {item.split("/")[0] for item in present}
            assert {"KVMNode", "Pod", "PersistentVolume", "VaultMount"} <= kinds, present
            assert {"AllocationRecord", "StatefulSet", "Deployment"} <= kinds, present

        started = time.monotonic()
        local_env.kubectl(
            "delete", "clusters.g8s.io", *NAMES, "-n", namespace, "--timeout=600s", timeout=660
        )
        took = time.monotonic() - started

        for name in NAMES:
            summary.leaked += leftovers(local_env, namespace, name, uids[name])
        summary.converged = len(NAMES) - len(clusters(local_env, namespace))
    print(f"kubectl delete of {len(NAMES)} clusters returned after {took:.1f}s")
    summary.check()
