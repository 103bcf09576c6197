"""Every derived name of the longest valid cluster name fits Kubernetes' limits."""

import re

from shared.api import names

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LONGEST = "c" * names.MAX_CLUSTER_NAME
COMPONENTS = (
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
)


def _derived(cluster: str) -> list[str]:
    nodes = [names.kvm_node(cluster, role, 999) for role in ("controlplane", "worker")]
    return [
        names.ca_secret(cluster),
        names.kubeconfig_secret(cluster),
        names.encryption_secret(cluster),
        names.apiserver_service(cluster),
        names.etcd_client_service(cluster),
        names.etcd_peer_service(cluster),
        names.etcd_member(cluster, 4),
        names.cluster_network(cluster),
        *nodes,
        *(names.ignition_secret(node) for node in nodes),
        *(names.node_disk(node) for node in nodes),
        *(names.certificate(cluster, component) for component in COMPONENTS),
    ]


def test_every_derived_name_is_a_dns_label() -> None:
    for name in _derived(LONGEST):
        assert len(name) <= names.DNS_LABEL_MAX, name
        assert DNS_LABEL.match(name), name


def test_statefulset_name_leaves_room_for_the_revision_hash() -> None:
    assert len(names.etcd_statefulset(LONGEST)) <= names.STATEFULSET_NAME_MAX


def test_node_names_are_stable_and_distinct() -> None:
    assert names.kvm_node("c1", "worker", 0) == names.kvm_node("c1", "worker", 0)
    assert names.kvm_node("c1", "worker", 0) != names.kvm_node("c1", "worker", 1)
    assert names.kvm_node("c1", "controlplane", 0).startswith("c1-cp-")
    assert names.kvm_node("c1", "worker", 0).startswith("c1-w-")
