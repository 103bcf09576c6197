"""Parsing a ClusterNetwork, hosts ready/total and the status report.

Covers: requested and recorded values parsed, bad values as InvalidSpec
naming the field; hosts counted only for current host nodes and the current
generation; Ready from hosts (HostsConverged / HostsConverging / NoHosts),
or from the allocation alone when hosts are not required (reason Allocated,
saying so); status fields (vni, subnet, gateway, bridge, hosts ready/total).
"""

import ipaddress
import random
from typing import Any, cast

import pytest

from operators.network.allocation import Allocation, Allocator, Held, Pools
from operators.network.context import NetworkSettings
from operators.network.hosts import count
from operators.network.listings import Shared
from operators.network.model import parse
from operators.network.reconcile import Run
from operators.network.status import report
from shared.errors import InvalidSpec
from shared.kube import Kube
from shared.steps import Outcome


def body(
    spec: dict[str, Any] | None = None, status: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "metadata": {"name": "c1", "namespace": "ns", "uid": "u1", "generation": 2},
        "spec": spec or {},
        "status": status or {},
    }


def test_parse_requested_and_recorded() -> None:
    spec = parse(
        body({"vni": 42, "subnet": "10.1.2.0/24", "mtu": 1400}, {"vni": 7, "subnet": "10.9.0.0/24"})
    )
    assert spec.vni == 42
    assert spec.subnet == ipaddress.IPv4Network("10.1.2.0/24")
    assert spec.mtu == 1400
    assert spec.recorded_vni == 7
    assert spec.recorded_subnet == ipaddress.IPv4Network("10.9.0.0/24")
    assert spec.cluster == "c1"
    assert parse(body()).mtu == 1450


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"vni": 0}, "spec.vni"),
        ({"vni": 2**24}, "spec.vni"),
        ({"subnet": "10.1.2.1/24"}, "spec.subnet"),
        ({"subnet": "10.0.0.0/8"}, "spec.subnet"),
        ({"subnet": 5}, "spec.subnet"),
        ({"mtu": 100}, "spec.mtu"),
    ],
)
def test_bad_values_name_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidSpec) as caught:
        parse(body(spec))
    assert caught.value.field == field


def test_hosts_count_current_nodes_and_generation() -> None:
    entries = [
        {"name": "a", "ready": True, "observedGeneration": 2},
        {"name": "b", "ready": True, "observedGeneration": 1},
        {"name": "c", "ready": False, "observedGeneration": 2},
        {"name": "gone", "ready": True, "observedGeneration": 2},
    ]
    got = count(entries, ["a", "b", "c", "d"], generation=2)
    assert (got.ready, got.total) == (1, 4)
    assert got.not_ready == ("b", "c", "d")
    assert not got.all_ready
    assert count([], [], 1).all_ready is False


def make_run(require_hosts: bool, ready: int, total: int) -> Run:
    settings = NetworkSettings(require_hosts=require_hosts)
    allocator = Allocator(
        cast(Any, None), Pools(1, 2, ipaddress.IPv4Network("10.0.0.0/16"), 24), random.Random(), 1
    )
    nodes: Shared[list[str]] = Shared(list, 1.0)
    records: Shared[list[Held]] = Shared(list, 1.0)
    run = Run(parse(body()), body(), cast(Kube, None), settings, allocator, nodes, records)
    run.allocation = Allocation(42, ipaddress.IPv4Network("10.100.3.0/24"))
    names = [f"h{i}" for i in range(total)]
    entries = [{"name": n, "ready": True, "observedGeneration": 2} for n in names[:ready]]
    run.hosts = count(entries, names, 2)
    return run


def test_ready_when_every_host_converged() -> None:
    run = make_run(True, 3, 3)
    got = report(run.spec, run, Outcome())
    assert got.phase == "Ready"
    assert got.observations[0].reason == "HostsConverged"
    assert got.fields == {
        "mtu": 1450,
        "vni": 42,
        "subnet": "10.100.3.0/24",
        "gateway": "10.100.3.1",
        "bridge": "g8br42",
        "vxlanDevice": "g8vx42",
        "hostsReady": 3,
        "hostsTotal": 3,
    }


def test_not_ready_while_hosts_converge() -> None:
    run = make_run(True, 1, 3)
    got = report(run.spec, run, Outcome())
    assert got.phase == "Allocated"
    assert got.observations[0].status == "False"
    assert got.observations[0].reason == "HostsConverging"
    assert "1/3" in got.observations[0].message
    assert make_run(True, 0, 0).hosts is not None
    no_hosts = make_run(True, 0, 0)
    assert report(no_hosts.spec, no_hosts, Outcome()).observations[0].reason == "NoHosts"


def test_ready_from_allocation_when_hosts_not_required() -> None:
    run = make_run(False, 0, 3)
    got = report(run.spec, run, Outcome())
    assert got.observations[0].status == "True"
    assert got.observations[0].reason == "Allocated"
    assert "not required" in got.observations[0].message


def test_failed_step_leaves_ready_to_the_kit() -> None:
    run = make_run(True, 3, 3)
    run.allocation = None
    failed = Outcome(failed_step="allocate")
    failed.verdict = cast(Any, object())
    got = report(run.spec, run, failed)
    assert got.observations == ()
    assert got.phase == "Allocating"
