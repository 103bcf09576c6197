"""Scenario 2, operator crash storm: SIGKILL a random operator every few seconds.

While new Clusters are created and older ones deleted, a random one of the
five operators is killed (SIGKILL: no shutdown handler runs) every
``KILL_EVERY`` seconds for ``STORM_SECONDS``, and started again a second later.
Afterwards, without any help:

- every Cluster that should exist is Ready, and each has exactly the children
  its spec asks for (no duplicate KVMNode, Certificate, Deployment, ...);
- the deleted Clusters left nothing (``faults.leftovers``: objects, volumes,
  Vault mount, allocation records);
- the Clusters that lived through the storm lost nothing: the same CA, and
  every TLS Secret still holds a key that matches its certificate, signed by
  that CA;
- no certificate was signed twice for one revision: Vault signed exactly one
  certificate per revision of each of the cluster's Certificates, counted
  from Vault's own audit log, not from the leaves Vault stores (those are
  what the operator looks up itself);
- no operator exited other than by the scenario's kill.

CI runs it with a handful of clusters; ``python -m bench.storm`` runs the same
test at the issue's size (20 created, 10 deleted, 2 kept, two minutes of kills)
through the ``G8S_STORM_*`` variables read by :class:`Size`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from shared.api import certificates as catalogue
from tests import localenv
from tests.e2e.cluster.helpers import apply, cluster
from tests.localenv import LocalEnv
from tests.operators import wait_for
from tests.reliability.faults import (
    Summary,
    ca_of,
    children_count,
    clusters,
    leftovers,
    network_uid,
    pki_damage,
    ready,
    signed_twice,
    storm,
    supervised,
)


@dataclass(frozen=True)
class Size:
    """How big the storm is: CI's defaults, or ``G8S_STORM_<FIELD>`` (bench.storm)."""

    keep: int = 2
    old: int = 2
    new: int = 4
    seconds: float = 60.0
    every: float = 3.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Size:
        default = cls()
        return cls(
            keep=int(environ.get("G8S_STORM_KEEP", default.keep)),
            old=int(environ.get("G8S_STORM_OLD", default.old)),
            new=int(environ.get("G8S_STORM_NEW", default.new)),
            seconds=float(environ.get("G8S_STORM_SECONDS", default.seconds)),
            every=float(environ.get("G8S_STORM_EVERY", default.every)),
        )


def _names(prefix: str, count: int) -> tuple[str, ...]:
    return tuple(f"{prefix}-{i:02d}" for i in range(1, count + 1))


SIZE = Size.from_env(os.environ)
KEEP = _names("keep", SIZE.keep)
OLD = _names("old", SIZE.old)
NEW = _names("new", SIZE.new)
WORKERS = 1
# Each simulated host (32 CPUs) holds the VM pods of about this many clusters.
CLUSTERS_PER_HOST = 5
STORM_SECONDS = SIZE.seconds
KILL_EVERY = SIZE.every
# Simulated hosts: a cluster is Ready in seconds; many at once queue behind each other.
CONVERGE_TIMEOUT = max(600.0, 20.0 * (SIZE.keep + SIZE.old + SIZE.new))


def expected_children() -> dict[str, int]:
    nodes = 1 + WORKERS
    return {
        "KVMNode": nodes,
        "EtcdCluster": 1,
        "ClusterNetwork": 1,
        "Certificate": len(catalogue.COMPONENTS) + nodes,
        "Deployment": nodes,
        "StatefulSet": 1,
    }


def test_a_crash_storm_converges_leaks_nothing_and_loses_nothing(
    local_env: LocalEnv, namespace: str, tmp_path: Path
) -> None:
    summary = Summary("crash-storm", clusters=len(KEEP) + len(NEW) + len(OLD))
    hosts = -(-(len(KEEP) + len(NEW) + len(OLD)) // CLUSTERS_PER_HOST)
    if hosts > localenv.HOST_NODES:
        # bench.storm's counts: more simulated hosts, or VM pods stay Pending.
        localenv.ensure_nodes(local_env, hosts)
    with supervised(local_env, namespace, tmp_path) as ops:
        apply(local_env, *(cluster(n, namespace, workers=WORKERS) for n in (*KEEP, *OLD)))
        wait_for(
            lambda: (
                sum(ready(c) for c in clusters(local_env, namespace).values())
                == len(KEEP) + len(OLD)
            ),
            timeout=CONVERGE_TIMEOUT,
            what="the clusters before the storm Ready",
            interval=2.0,
        )
        cas = {name: ca_of(local_env, namespace, name) for name in KEEP}
        uids = {name: [network_uid(local_env, namespace, name)] for name in OLD}

        started = time.monotonic()
        with storm(ops, every=KILL_EVERY) as killed:
            apply(local_env, *(cluster(n, namespace, workers=WORKERS) for n in NEW))
            local_env.kubectl("delete", "clusters.g8s.io", *OLD, "-n", namespace, "--wait=false")
            time.sleep(max(0.0, STORM_SECONDS - (time.monotonic() - started)))
        summary.faults = len(killed)
        print(f"killed: {killed}")

        def converged() -> bool:
            now = clusters(local_env, namespace)
            return set(now) == {*KEEP, *NEW} and all(ready(c) for c in now.values())

        wait_for(
            converged, timeout=CONVERGE_TIMEOUT, what="convergence after the storm", interval=2.0
        )
        print(f"converged {time.monotonic() - started:.0f} s after the storm began")
        after = clusters(local_env, namespace)
        summary.converged = sum(ready(after[n]) for n in (*KEEP, *NEW) if n in after) + len(
            [n for n in OLD if n not in after]
        )

        for name in OLD:
            summary.leaked += leftovers(local_env, namespace, name, uids[name])
        for name in (*KEEP, *NEW):
            counts = children_count(local_env, namespace, name)
            for kind, want in expected_children().items():
                if counts.get(kind, 0) > want:
                    summary.leaked.append(f"{name}: {counts[kind]} {kind} for {want}")
            summary.leaked += signed_twice(local_env, namespace, name)
        for name in KEEP:
            summary.lost += pki_damage(local_env, namespace, name, cas[name])
        assert not ops.crashed(), f"operators exited on their own: {ops.crashed()}"
    summary.check()
