"""Scenario 4, the host API server restarted and gone for 30 s mid-reconciliation.

Two Clusters are Ready. Then the host's kube-apiserver is taken away twice
while the operators are busy: first a restart (stopped and started again at
once) just after a new Cluster is applied and another deleted; then a 30 s
outage just after a second new Cluster is applied.

After each, every operator's watches must have come back, which only a
change made after the fault shows (a watch that did not recover sees none):

- a TLS Secret deleted -> issued again (the certificates operator's Secret watch);
- the Cluster's workers scaled -> the KVMNodes follow (the cluster operator's
  Cluster watch, the kvm operator's KVMNode watch);
- a launcher Deployment scaled to 0 -> scaled back (the kvm operator's
  Deployment watch).

At the end: every remaining Cluster Ready, the deleted one left nothing, no
duplicate child, every cluster's PKI intact, Vault signed one certificate
per revision, and no operator exited on its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.e2e.cluster.helpers import apply, cluster, patch
from tests.localenv import LocalEnv, find_json
from tests.operators import wait_for
from tests.reliability.faults import (
    Summary,
    apiserver_down,
    broken,
    ca_of,
    children_count,
    clusters,
    items,
    leftovers,
    network_uid,
    pki_damage,
    ready,
    signed_twice,
    supervised,
)

STEADY = "steady"
DOOMED = "doomed"
OUTAGE = 30.0
# Long enough for the operators to be in the middle of the new work.
BUSY = 3.0
TIMEOUT = 300.0


def available(deployment: dict[str, Any] | None) -> bool:
    """The Deployment's current spec rolled out, with every replica ready."""
    if deployment is None:
        return False
    status = deployment.get("status") or {}
    wanted = int(deployment["spec"]["replicas"])
    return bool(
        int(status.get("observedGeneration", 0)) >= int(deployment["metadata"].get("generation", 0))
        and int(status.get("readyReplicas", 0)) == wanted
        and int(status.get("updatedReplicas", 0)) == wanted
    )


def test_apiserver_restart_and_outage_lose_nothing(
    local_env: LocalEnv, namespace: str, tmp_path: Path
) -> None:
    summary = Summary("apiserver-outage", clusters=4)
    ns = namespace

    def get(*what: str) -> dict[str, Any] | None:
        return find_json(local_env, ns, *what)

    def all_ready(names: list[str]) -> Callable[[], bool]:
        def check() -> bool:
            found = clusters(local_env, ns)
            return all(n in found and ready(found[n]) for n in names)

        return check

    def workers() -> list[dict[str, Any]]:
        nodes = items(local_env, ns, "kvmnodes.g8s.io", "-l", f"g8s.io/cluster={STEADY}")
        return [n for n in nodes if n["spec"]["role"] == "worker"]

    def watches_recovered(replicas: int) -> None:
        """Changes only a recovered watch sees; each must be acted on."""
        admin = f"{STEADY}-admin"
        old = (get("secret", admin) or {})["data"]["tls.crt"]
        local_env.kubectl("delete", "secret", admin, "-n", ns)
        patch(local_env, ns, STEADY, {"spec": {"workers": {"replicas": replicas}}})
        wait_for(
            lambda: (
                (s := get("secret", admin)) is not None
                and s["data"]["tls.crt"] != old
                and not broken(s, ca_of(local_env, ns, STEADY))
            ),
            timeout=TIMEOUT,
            what=f"{admin} issued again",
        )
        wait_for(
            lambda: len(now := workers()) == replicas and all(ready(n) for n in now),
            timeout=TIMEOUT,
            what=f"{replicas} Ready workers",
            interval=1.0,
        )
        node = workers()[0]["metadata"]["name"]
        local_env.kubectl("scale", "-n", ns, f"deployment/{node}", "--replicas=0")
        wait_for(
            lambda: (d := get("deployment", node)) is not None and d["spec"]["replicas"] == 1,
            timeout=TIMEOUT,
            what=f"deployment/{node} scaled back",
        )
        # Its pod starts again: the node, and so its Cluster, is not Ready for a
        # moment. Only once the Deployment is available again is a Ready the
        # answer to the scaling, not a Ready from before it.
        wait_for(
            lambda: available(get("deployment", node)),
            timeout=TIMEOUT,
            what=f"deployment/{node} available again",
        )
        wait_for(
            lambda: all(ready(n) for n in workers()),
            timeout=TIMEOUT,
            what=f"{node} Ready again",
            interval=1.0,
        )

    living = [STEADY]
    with supervised(local_env, ns, tmp_path) as ops:
        apply(local_env, cluster(STEADY, ns, workers=1), cluster(DOOMED, ns, workers=0))
        wait_for(
            all_ready([STEADY, DOOMED]), timeout=TIMEOUT, what="both Clusters Ready", interval=2.0
        )
        cas = {STEADY: ca_of(local_env, ns, STEADY)}
        doomed_network = network_uid(local_env, ns, DOOMED)

        # A restart while a Cluster is being created and another deleted.
        apply(local_env, cluster("after-restart", ns, workers=0))
        local_env.kubectl("delete", "clusters.g8s.io", DOOMED, "-n", ns, "--wait=false")
        time.sleep(BUSY)
        with apiserver_down(local_env):
            pass
        summary.faults += 1
        living.append("after-restart")
        watches_recovered(replicas=2)

        # Gone for 30 s while a Cluster is being created.
        apply(local_env, cluster("after-outage", ns, workers=0))
        time.sleep(BUSY)
        with apiserver_down(local_env):
            time.sleep(OUTAGE)
        summary.faults += 1
        living.append("after-outage")
        watches_recovered(replicas=1)

        wait_for(all_ready(living), timeout=TIMEOUT, what="every Cluster Ready", interval=2.0)
        wait_for(
            lambda: not leftovers(local_env, ns, DOOMED, [doomed_network]),
            timeout=TIMEOUT,
            what=f"{DOOMED} gone",
            interval=2.0,
        )
        crashed = ops.crashed()
    assert not crashed, f"operators exited on their own: {crashed}"

    found = clusters(local_env, ns)
    summary.converged = sum(ready(found[n]) for n in living if n in found) + (DOOMED not in found)
    summary.leaked += leftovers(local_env, ns, DOOMED, [doomed_network])
    for name in living:
        counts = children_count(local_env, ns, name)
        nodes = 1 + (1 if name == STEADY else 0)
        want = {"KVMNode": nodes, "Deployment": nodes, "EtcdCluster": 1, "ClusterNetwork": 1}
        summary.leaked += [
            f"{name}: {counts.get(kind, 0)} {kind} for {n}"
            for kind, n in want.items()
            if counts.get(kind, 0) > n
        ]
        summary.leaked += signed_twice(local_env, ns, name)
    summary.lost += pki_damage(local_env, ns, STEADY, cas[STEADY])
    summary.check()
