"""The component catalogue (shared.api.certificates): names, SANs, usages per component."""

import pytest

from shared.api import certificates as cat

CLUSTER = cat.ClusterInfo("c1", "ns1", "c1.example.org", "172.31.0.0/16")


def test_every_component_has_a_profile() -> None:
    found = [p.component for p in cat.profiles(CLUSTER)]
    assert found == list(cat.COMPONENTS)
    required = {
        "api",
        "etcd-server",
        "etcd-peer",
        "etcd-client",
        "apiserver-etcd-client",
        "apiserver-kubelet-client",
        "front-proxy-client",
        "worker",
        "admin",
        "service-account",
        "calico",
    }
    assert required <= set(found)


def test_unknown_component_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        cat.profile("nope", CLUSTER)


def test_api_certificate_names() -> None:
    api = cat.profile(cat.API, CLUSTER)
    for name in (
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "api.c1.example.org",
        "c1-apiserver.ns1.svc",
    ):
        assert name in api.dns_names
    assert api.ip_addresses[0] == "172.31.0.1"
    assert api.server
    assert not api.client


def test_first_service_ip() -> None:
    assert cat.first_service_ip("10.96.0.0/12") == "10.96.0.1"
    assert cat.first_service_ip("fd00::/108") == "fd00::1"


def test_etcd_names_cover_members_and_both_services() -> None:
    server = cat.profile(cat.ETCD_SERVER, CLUSTER)
    peer = cat.profile(cat.ETCD_PEER, CLUSTER)
    for ordinal in range(cat.MAX_ETCD_MEMBERS):
        member = f"c1-etcd-{ordinal}.c1-etcd-peer.ns1.svc"
        assert member in server.dns_names
        assert member in peer.dns_names
    assert "c1-etcd.ns1.svc.cluster.local" in server.dns_names
    assert "c1-etcd-peer.ns1.svc" in server.dns_names
    assert server.server
    assert server.client
    assert peer.server
    assert peer.client


def test_client_identities() -> None:
    admin = cat.profile(cat.ADMIN, CLUSTER)
    assert admin.organizations == ("system:masters",)
    assert admin.client
    assert not admin.server
    worker = cat.profile(cat.WORKER, CLUSTER)
    assert worker.common_name.startswith("system:node:")
    assert worker.organizations == ("system:nodes",)
    assert cat.node_common_name(cat.node_name("c1", "worker", 0)).startswith("system:node:c1-w-")


def test_service_account_is_a_key_pair() -> None:
    sa = cat.profile(cat.SERVICE_ACCOUNT, CLUSTER)
    assert sa.key_pair_only
    assert sa.dns_names == ()


def test_names_never_leave_the_cluster() -> None:
    other = cat.ClusterInfo("c2", "ns1", "c2.example.org", "172.31.0.0/16")
    mine = {n for p in cat.profiles(CLUSTER) for n in p.dns_names}
    theirs = {n for p in cat.profiles(other) for n in p.dns_names}
    shared_names = mine & theirs
    # Only the generic in-cluster names of Kubernetes itself are common.
    assert all(n.startswith("kubernetes") or n == "localhost" for n in shared_names)


def test_within_cluster() -> None:
    assert cat.within_cluster("x.c1.example.org", CLUSTER)
    assert cat.within_cluster("c1.example.org.", CLUSTER)
    assert not cat.within_cluster("x.c2.example.org", CLUSTER)
    assert not cat.within_cluster("evilc1.example.org", CLUSTER)


def test_mount_path() -> None:
    assert cat.mount_path("ns1", "c1") == "pki-ns1-c1"
    assert cat.mount_path("ns1", "c1", "g8s") == "g8s-ns1-c1"
