"""VNI and subnet allocation by the network operator on the real API server.

- 200 ClusterNetworks created at once all get a VNI and a subnet, each
  unique, with exactly one allocation record per value; the operator is
  stopped and started again in the middle, and nothing allocated before the
  restart changes (nothing is allocated twice: 200 + 200 records in all);
- each network gets its two NetworkPolicies, owned by it;
- a requested VNI held by another network is reported as AllocationConflict
  and not replaced by another value;
- deleting the networks deletes their records, and a freed VNI and subnet can
  be requested again.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import yaml

from tests.integration.network.conftest import Namespaces, StartOperator
from tests.localenv import LocalEnv
from tests.operators import RunningOperator, wait_for

COUNT = 200


def network(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "g8s.io/v1alpha1",
        "kind": "ClusterNetwork",
        "metadata": {"name": name, "namespace": namespace, "labels": {"g8s.io/cluster": name}},
        "spec": spec,
    }


def networks(env: LocalEnv, namespace: str) -> list[dict[str, Any]]:
    out = env.kubectl("get", "clusternetworks", "-n", namespace, "-o", "json").stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def records(env: LocalEnv, namespace: str) -> list[dict[str, Any]]:
    out = env.kubectl(
        "get", "configmaps", "-n", namespace, "-l", "g8s.io/allocation", "-o", "json"
    ).stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def allocated(items: list[dict[str, Any]]) -> dict[str, tuple[int, str]]:
    return {
        i["metadata"]["name"]: (i["status"]["vni"], i["status"]["subnet"])
        for i in items
        if (i.get("status") or {}).get("vni") and (i.get("status") or {}).get("subnet")
    }


def condition(item: dict[str, Any], type_: str) -> dict[str, Any]:
    for cond in (item.get("status") or {}).get("conditions") or []:
        if cond["type"] == type_:
            return dict(cond)
    return {}


def at_least(
    env: LocalEnv, namespace: str, count: int, op: RunningOperator
) -> dict[str, tuple[int, str]] | None:
    """The allocations once ``count`` networks have one; fails if the operator died."""
    assert op.process.poll() is None, f"the operator exited:\n{op.log()[-3000:]}"
    got = allocated(networks(env, namespace))
    return got if len(got) >= count else None


def create_all(env: LocalEnv, bodies: list[dict[str, Any]]) -> None:
    listing = {"apiVersion": "v1", "kind": "List", "items": bodies}
    env.kubectl("create", "-f", "-", input=yaml.safe_dump(listing), timeout=300)


def test_concurrent_allocation_restart_and_release(
    local_env: LocalEnv, namespaces: Namespaces, start_operator: StartOperator
) -> None:
    ns = namespaces.networks
    create_all(local_env, [network(f"n{i:03d}", ns) for i in range(COUNT)])

    with start_operator() as first:
        before = wait_for(
            lambda: at_least(local_env, ns, COUNT // 4, first),
            timeout=120,
            what="a quarter of the networks allocated",
            interval=0.2,
        )
    # Stopped mid-way; a new process picks up where the first left off.
    with start_operator() as second:
        final = wait_for(
            lambda: at_least(local_env, ns, COUNT, second),
            timeout=300,
            what=f"all {COUNT} networks allocated",
        )
        for name, value in before.items():
            assert final[name] == value, f"{name} was re-allocated across the restart"
        vnis = [vni for vni, _ in final.values()]
        subnets = [ipaddress.IPv4Network(s) for _, s in final.values()]
        assert len(set(vnis)) == COUNT
        assert len(set(subnets)) == COUNT
        assert all(
            s.prefixlen == 24 and s.subnet_of(ipaddress.IPv4Network("10.100.0.0/16"))
            for s in subnets
        )
        held = records(local_env, namespaces.records)
        assert len(held) == 2 * COUNT, "an allocation was recorded twice or not at all"
        by_uid = {i["metadata"]["uid"]: i["metadata"]["name"] for i in networks(local_env, ns)}
        assert {r["data"]["uid"] for r in held} == set(by_uid)

        wait_for(
            lambda: all(
                condition(i, "Ready").get("status") == "True" for i in networks(local_env, ns)
            ),
            timeout=120,
            what="every network Ready",
        )
        one = networks(local_env, ns)[0]
        assert condition(one, "Ready")["reason"] == "Allocated"
        assert one["status"]["bridge"] == f"g8br{one['status']['vni']}"
        subnet = ipaddress.IPv4Network(one["status"]["subnet"])
        assert one["status"]["gateway"] == str(subnet.network_address + 1)
        policies = json.loads(
            local_env.kubectl("get", "networkpolicies", "-n", ns, "-o", "json").stdout
        )["items"]
        assert {p["metadata"]["name"] for p in policies} >= {
            "n000-isolation",
            "n000-apiserver-ingress",
        }
        assert all(
            p["metadata"]["ownerReferences"][0]["kind"] == "ClusterNetwork" for p in policies
        )

        # A requested VNI already held: a condition, never another value.
        taken_vni, taken_subnet = final["n000"]
        local_env.kubectl("create", "-f", "-", input=json.dumps(network("dup", ns, vni=taken_vni)))
        dup = wait_for(
            lambda: next(
                (
                    i
                    for i in networks(local_env, ns)
                    if i["metadata"]["name"] == "dup"
                    and condition(i, "Ready").get("reason") == "AllocationConflict"
                ),
                None,
            ),
            timeout=60,
            what="dup reported AllocationConflict",
        )
        assert "vni" not in dup["status"]
        assert str(taken_vni) in condition(dup, "Ready")["message"]
        local_env.kubectl("delete", "clusternetwork", "dup", "-n", ns, "--wait=true", timeout=120)

        # Deletion frees every value.
        # One DELETE of the whole collection: all 200 go at once.
        local_env.kubectl(
            "delete", "--raw", f"/apis/g8s.io/v1alpha1/namespaces/{ns}/clusternetworks"
        )
        wait_for(lambda: not networks(local_env, ns), timeout=300, what="every network deleted")
        assert records(local_env, namespaces.records) == []

        # ... for reuse: the same VNI and subnet can be requested again.
        again = network("again", ns, vni=taken_vni, subnet=taken_subnet)
        local_env.kubectl("create", "-f", "-", input=json.dumps(again))
        reused = wait_for(
            lambda: allocated(networks(local_env, ns)).get("again"),
            timeout=60,
            what="the freed values allocated again",
        )
        assert reused == (taken_vni, taken_subnet)
        local_env.kubectl("delete", "clusternetwork", "again", "-n", ns, "--wait=true", timeout=120)
        assert records(local_env, namespaces.records) == []
