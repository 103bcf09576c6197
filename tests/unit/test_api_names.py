"""Every derived name of the longest valid cluster name fits Kubernetes' limits, and no
cluster's name makes a child named like another cluster's (the CRD refuses those)."""

import re
from pathlib import Path

import yaml

from shared.api import certificates as catalogue
from shared.api import names

ROOT = Path(__file__).resolve().parents[2]

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


def test_the_cluster_crd_refuses_every_name_ending_that_would_clash() -> None:
    suffixes = names.reserved_suffixes(catalogue.ALL_COMPONENTS)
    assert suffixes == ("-apiserver",)
    crd = yaml.safe_load((ROOT / "crds" / "clusters.g8s.io.yaml").read_text())
    rules = [
        r["rule"]
        for r in crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["x-kubernetes-validations"]
    ]
    for suffix in suffixes:
        assert f"!self.metadata.name.endsWith('{suffix}')" in rules


def test_a_reserved_ending_is_exactly_a_clash() -> None:
    clash = names.reserved_suffixes(("x-y", "y", "z-w"))
    assert clash == ("-x",)
    # Cluster "c-x" names its "y" like cluster "c" names its "x-y".
    assert f"c{clash[0]}-y" == "c-x-y"
