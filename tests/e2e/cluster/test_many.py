"""Ten Clusters applied at once, with the five operators as processes.

Covered: ten Clusters (1 control-plane node, 1 worker each) applied in one
``kubectl apply`` all reach Ready; each has exactly its own children — the
expected number of each kind, under the expected names, labelled with its
name and owned by it — and no child is left over or shared; their networks
got distinct VNIs and subnets; deleting all ten leaves no child behind. The
time to all Ready is printed (no assertion on it beyond a generous timeout).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from shared.api import certificates as catalogue
from shared.api import names
from tests.e2e.cluster.helpers import (
    CHILD_KINDS,
    CLUSTER_LABEL,
    apply,
    cluster,
    delete_and_wait,
    expected_children,
    get,
    is_ready,
    observed,
    suite,
)
from tests.localenv import LocalEnv
from tests.operators import wait_for

COUNT = 10
ALL_READY_TIMEOUT = 900.0


def expected_names(name: str) -> dict[str, set[str]]:
    return {
        "certificates": {names.certificate(name, comp) for comp in catalogue.COMPONENTS},
        "etcdclusters": {name},
        "clusternetworks": {names.cluster_network(name)},
        "kvmnodes": {names.kvm_node(name, "controlplane", 0), names.kvm_node(name, "worker", 0)},
    }


def owners(obj: dict[str, Any]) -> list[str]:
    return [str(ref.get("uid")) for ref in obj["metadata"].get("ownerReferences") or []]


def test_ten_clusters_at_once(
    local_env: LocalEnv, namespace: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster_names = [f"m{i}" for i in range(COUNT)]
    with suite(local_env, namespace, tmp_path):
        started = time.monotonic()
        apply(local_env, *(cluster(n, namespace, workers=1) for n in cluster_names))
        ready_after: dict[str, float] = {}

        def all_ready() -> bool:
            for item in get(local_env, namespace, "clusters.g8s.io")["items"]:
                if is_ready(item) and observed(item):
                    ready_after.setdefault(item["metadata"]["name"], time.monotonic() - started)
            return len(ready_after) == COUNT

        wait_for(all_ready, timeout=ALL_READY_TIMEOUT, what=f"{COUNT} Clusters Ready", interval=1)
        with capsys.disabled():
            times = sorted(ready_after.values())
            print(
                f"\n{COUNT} Clusters applied at once -> all Ready: {times[-1]:.1f} s "
                f"(first {times[0]:.1f} s, median {times[len(times) // 2]:.1f} s)"
            )

        clusters = {
            c["metadata"]["name"]: c for c in get(local_env, namespace, "clusters.g8s.io")["items"]
        }
        assert sorted(clusters) == sorted(cluster_names)
        found = {
            plural: get(local_env, namespace, f"{plural}.g8s.io")["items"] for plural in CHILD_KINDS
        }
        for name, obj in clusters.items():
            uid = obj["metadata"]["uid"]
            # Owned by the Cluster (a node's kubelet Certificate is its KVMNode's).
            for plural, wanted in expected_names(name).items():
                mine = [c for c in found[plural] if uid in owners(c)]
                assert len(mine) == len(wanted), f"{name}: {len(mine)} {plural}"
                assert {c["metadata"]["name"] for c in mine} == wanted
                assert all(c["metadata"]["labels"][CLUSTER_LABEL] == name for c in mine)
                assert all(len(owners(c)) == 1 for c in mine), f"{name}: a shared {plural}"
        # Nothing beyond the children counted above: no stray, no orphan.
        for plural, items in found.items():
            assert len(items) == COUNT * expected_children("", 1, 1)[plural], plural
        networks = [n.get("status") or {} for n in found["clusternetworks"]]
        assert len({n.get("vni") for n in networks if n.get("vni") is not None}) == COUNT
        assert len({n.get("subnet") for n in networks if n.get("subnet")}) == COUNT

        delete_and_wait(local_env, namespace, *cluster_names, timeout=ALL_READY_TIMEOUT)
        for plural in CHILD_KINDS:
            assert not get(local_env, namespace, f"{plural}.g8s.io")["items"], plural
