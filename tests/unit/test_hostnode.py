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


def test_the_wide_environment_has_room_for_500_clusters_and_overlaps_no_indexed_block() -> None:
    wide = hostnode.plan(hostnode.WIDE_ENV)
    assert wide.wide
    assert not hostnode.plan("g8s").wide
    assert wide.clusters >= 500
    assert wide.simulated_hosts >= 500 // 8
    indexed = [
        hostnode.subnet(within, index << 8, 24)
        for within in (hostnode.NODE_RANGE, hostnode.SERVICE_RANGE)
        for index in range(hostnode.FIRST_INDEX, hostnode.FIRST_INDEX + hostnode.INDEXES)
    ]
    own = (
        wide.service_cidr,
        wide.guest_pool,
        hostnode.WIDE_SIMULATED_NODES,
        hostnode.WIDE_SIMULATED_PODS,
    )
    for network in own:
        assert network.subnet_of(TEST_RANGE)  # type: ignore[arg-type]
        assert not any(network.overlaps(block) for block in indexed), network
        assert not network.overlaps(hostnode.GUEST_RANGE), network
    for i, network in enumerate(own):
        assert not any(network.overlaps(other) for other in own[i + 1 :]), network
    # Its simulated hosts' first address and pod range are where the plan says.
    assert ipaddress.ip_address(wide.simulated_node_ip) in hostnode.WIDE_SIMULATED_NODES
    assert wide.simulated_pod_cidr.subnet_of(hostnode.WIDE_SIMULATED_PODS)


def test_a_narrow_environment_says_how_many_clusters_it_holds() -> None:
    node = hostnode.plan("g8s")
    assert node.clusters == min(128, (256 - 2 - 16) // 2)
    assert node.guest_prefix == 24


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
