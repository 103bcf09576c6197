"""Benchmark of the network host agent and of allocation: ``python -m bench.network``.

Prints figures, asserts nothing about time:

- agent: one simulated host (a network namespace, as root) converges
  ``--networks`` networks (default 500: a bridge, a VXLAN device and two
  flood entries each) through the real netlink adapter; then a second pass
  with nothing to do (the cost of a periodic convergence at rest); then all
  networks removed;
- allocation on the real API server (a local environment of its own, or the
  one named by ``--env``): ``--allocations`` ClusterNetworks (default 200)
  created at once and allocated by the operator as a process (create to
  every status.vni set), and the same number of raw allocations through the
  Allocator and the API server's records from 8 threads (no kopf), then the
  deletions (delete to every record gone).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import secrets
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from operators.network.agent.converge import converge
from operators.network.agent.plan import DesiredNetwork, Host
from operators.network.allocation import Allocator, Owner, Pools
from operators.network.records import KubeRecordStore
from shared.kube import Kube, connect_kubeconfig
from shared.netlink import Netlink
from tests import localenv
from tests.integration.network.hosts import hosts
from tests.operators import running_operator, wait_for

CRD = localenv.ROOT / "crds" / "clusternetworks.g8s.io.yaml"


def bench_agent(count: int) -> None:
    with hosts(1) as (sim,):
        host = Host(sim.name, sim.vtep, sim.underlay)
        remotes = frozenset({sim.vtep, "192.0.2.101", "192.0.2.102"})
        wanted = [
            DesiredNetwork("bench", f"n{i}", 1, 1000 + i, 1450, remotes) for i in range(count)
        ]
        with Netlink(sim.netns) as netlink:
            started = time.perf_counter()
            first = converge(netlink, wanted, host)
            create_s = time.perf_counter() - started
            started = time.perf_counter()
            idle = converge(netlink, wanted, host)
            idle_s = time.perf_counter() - started
            started = time.perf_counter()
            gone = converge(netlink, [], host)
            remove_s = time.perf_counter() - started
        ready = sum(r.ready for r in first.networks.values())
        print(f"agent: {count} networks on one host, {len(first.applied)} netlink actions")
        print(
            f"  converge from nothing: {create_s:8.2f} s  ({count / create_s:7.1f} networks/s), "
            f"{ready}/{count} ready, errors: {len(first.errors)}"
        )
        print(
            f"  converge at rest:      {idle_s:8.3f} s  ({len(idle.applied)} actions; "
            f"{create_s / idle_s:6.1f}x cheaper than from nothing)"
        )
        print(
            f"  remove all:            {remove_s:8.2f} s  ({count / remove_s:7.1f} networks/s, "
            f"{len(gone.applied)} deletions)"
        )


def allocated(env: localenv.LocalEnv, ns: str) -> int:
    out = env.kubectl("get", "clusternetworks", "-n", ns, "-o", "json").stdout
    return sum(1 for i in json.loads(out)["items"] if (i.get("status") or {}).get("vni"))


def network_count(env: localenv.LocalEnv, ns: str) -> int:
    out = env.kubectl("get", "clusternetworks", "-n", ns, "-o", "name").stdout
    return len(out.split())


def record_count(env: localenv.LocalEnv, ns: str) -> int:
    out = env.kubectl("get", "configmaps", "-n", ns, "-l", "g8s.io/allocation", "-o", "name").stdout
    return len(out.split())


def bench_allocation(env: localenv.LocalEnv, count: int) -> None:
    env.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD))
    env.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", "crd/clusternetworks.g8s.io"
    )
    suffix = secrets.token_hex(3)
    ns, records = f"bench-net-{suffix}", f"bench-records-{suffix}"
    for name in (ns, records):
        env.kubectl("create", "namespace", name)
    try:
        operator_env = {
            **env.env(),
            "G8S_NETWORK_ALLOCATION_NAMESPACE": records,
            "G8S_NETWORK_REQUIRE_HOSTS": "false",
            "G8S_NETWORK_HOSTS_INTERVAL": "600",
            "G8S_LOG_LEVEL": "WARNING",
        }
        listing = {
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                {
                    "apiVersion": "g8s.io/v1alpha1",
                    "kind": "ClusterNetwork",
                    "metadata": {"name": f"n{i:04d}", "namespace": ns},
                    "spec": {},
                }
                for i in range(count)
            ],
        }
        env.kubectl("create", "-f", "-", input=yaml.safe_dump(listing), timeout=600)
        with tempfile.TemporaryDirectory() as logs:
            started = time.perf_counter()
            with running_operator("network", env=operator_env, namespace=ns, log_dir=Path(logs)):
                wait_for(lambda: allocated(env, ns) == count, timeout=900, what="allocation")
                operator_s = time.perf_counter() - started
                started = time.perf_counter()
                env.kubectl(
                    "delete", "--raw", f"/apis/g8s.io/v1alpha1/namespaces/{ns}/clusternetworks"
                )
                wait_for(
                    lambda: record_count(env, records) == 0 and network_count(env, ns) == 0,
                    timeout=900,
                    what="release",
                )
                release_s = time.perf_counter() - started
        print(f"allocation on the real API server, {count} networks created at once")
        print(
            f"  operator, process start to all allocated: {operator_s:7.2f} s "
            f"({count / operator_s:6.1f} networks/s)"
        )
        print(
            f"  release, delete to networks+records gone: {release_s:7.2f} s "
            f"({count / release_s:6.1f} networks/s)"
        )

        kube = Kube(connect_kubeconfig(env.kubeconfig.read_text()), "g8s-network-bench")
        store = KubeRecordStore(kube, records)
        allocator = Allocator(
            store,
            Pools(4096, 65535, ipaddress.IPv4Network("10.100.0.0/16"), 24),
            random.Random(),  # noqa: S311 - spreads candidates; no secrecy involved
            32,
        )

        def one(i: int) -> None:
            allocator.allocate(
                Owner(ns, f"raw{i}", f"raw-uid-{i}"),
                vni=None,
                recorded_vni=None,
                subnet=None,
                recorded_subnet=None,
            )

        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, range(count)))
        raw_s = time.perf_counter() - started
        print(
            f"  raw Allocator, 8 threads, no kopf:        {raw_s:7.2f} s "
            f"({count / raw_s:6.1f} networks/s; operator/raw time ratio "
            f"{operator_s / raw_s:4.1f})"
        )
        assert record_count(env, records) == 2 * count
    finally:
        for name in (ns, records):
            env.kubectl("delete", "namespace", name, "--wait=false", check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=500)
    parser.add_argument("--allocations", type=int, default=200)
    parser.add_argument("--env", default="", help="a running local environment's name to reuse")
    parser.add_argument("--skip-api", action="store_true", help="only the agent benchmark")
    args = parser.parse_args()
    bench_agent(args.networks)
    if args.skip_api:
        return
    name = args.env or "g8s-bench-network"
    env = localenv.up(name)
    try:
        bench_allocation(env, args.allocations)
    finally:
        if not args.env:
            localenv.down(name)


if __name__ == "__main__":
    main()
