"""The real node's plan and configuration (tests/hostnode.py): pure functions only."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from tests import hostnode

TEST_RANGE = ipaddress.ip_network("198.18.0.0/15")


def test_every_address_is_in_the_reserved_test_range() -> None:
    node = hostnode.plan("g8s")
    for address in (node.host_ip, node.node_ip, node.pod_gateway, node.api_service_ip):
        assert ipaddress.ip_address(address) in TEST_RANGE
    for network in (node.block, node.pod_cidr, node.service_cidr, hostnode.GUEST_RANGE):
        assert network.subnet_of(TEST_RANGE)  # type: ignore[arg-type]


def test_ranges_of_one_node_do_not_overlap() -> None:
    node = hostnode.plan("g8s")
    link = ipaddress.ip_network(node.link_cidr)
    assert not link.overlaps(node.pod_cidr)
    assert not node.service_cidr.overlaps(node.block)
    assert not node.service_cidr.overlaps(hostnode.GUEST_RANGE)
    assert ipaddress.ip_address(node.host_ip) in link
    assert ipaddress.ip_address(node.node_ip) in link


def test_the_developer_and_test_environments_get_distinct_nodes() -> None:
    dev, test = hostnode.plan("g8s"), hostnode.plan("g8s-test")
    assert dev.index != test.index
    assert dev.netns != test.netns
    assert dev.host_link != test.host_link
    assert not dev.block.overlaps(test.block)


def test_plan_is_stable_and_names_fit_the_kernel_limits() -> None:
    assert hostnode.plan("g8s") == hostnode.plan("g8s")
    for name in ("g8s", "g8s-test", "a-rather-long-environment-name"):
        assert len(hostnode.plan(name).host_link) <= 15


def test_pods_get_no_default_route_and_no_masquerade() -> None:
    node = hostnode.plan("g8s")
    config = hostnode.cni_config(node, hostnode.NodePaths(root=Path("/state"), env="g8s"))
    bridge = config["plugins"][0]  # type: ignore[index]
    assert bridge["isDefaultGateway"] is False
    assert bridge["ipMasq"] is False
    assert bridge["ipam"]["routes"] == [{"dst": "198.18.0.0/15"}]


def test_kubelet_registers_tainted_and_uses_the_cluster_dns() -> None:
    node = hostnode.plan("g8s")
    config = hostnode.kubelet_config(
        node, hostnode.NodePaths(root=Path("/s"), env="g8s"), Path("/ca")
    )
    assert {"key": hostnode.HOST_TAINT, "effect": "NoSchedule"} in config["registerWithTaints"]  # type: ignore[operator]
    assert config["clusterDNS"] == [node.host_ip]
    assert config["authentication"]["anonymous"]["enabled"] is False  # type: ignore[index]


def test_corefile_forwards_nothing() -> None:
    text = hostnode.corefile(hostnode.plan("g8s"), Path("/k"))
    assert "forward" not in text
    assert "cluster.local" in text


def test_snapshot_differences_name_what_changed() -> None:
    base = hostnode.Snapshot(
        mounts=frozenset({"/"}),
        links=frozenset({"lo"}),
        netns=frozenset(),
        chains=frozenset(),
        sysctls=(("kernel/panic", "0"),),
        cgroups=frozenset(),
        dirs=frozenset(),
    )
    after = hostnode.Snapshot(
        mounts=frozenset({"/", "/x"}),
        links=frozenset({"lo"}),
        netns=frozenset(),
        chains=frozenset(),
        sysctls=(("kernel/panic", "10"),),
        cgroups=frozenset(),
        dirs=frozenset(),
    )
    diff = base.differences(after)
    assert diff["mounts"] == {"added": ["/x"], "removed": []}
    assert "sysctls" in diff
    assert "links" not in diff
    assert base.differences(base) == {}
