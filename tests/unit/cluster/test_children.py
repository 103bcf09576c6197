"""The pure builders of every object the cluster operator writes, field by field."""

import base64
import json

import pytest

from operators.cluster.children import (
    certificate,
    clusternetwork,
    encryption,
    etcdcluster,
    kubeconfig,
    kvmnode,
    service,
)
from shared.api import certificates as catalogue
from shared.api import names
from tests.unit.cluster.helpers import cluster_spec


def test_one_certificate_per_catalogue_component() -> None:
    built = certificate.build_all(cluster_spec())
    assert [b["spec"]["component"] for b in built] == list(catalogue.COMPONENTS)
    assert [b["metadata"]["name"] for b in built] == [
        names.certificate("c1", comp) for comp in catalogue.COMPONENTS
    ]
    api = next(b for b in built if b["spec"]["component"] == catalogue.API)
    assert "api.c1.g8s.local" in api["spec"]["dnsNames"]
    assert api["spec"]["cluster"] == "c1"
    assert api["metadata"]["labels"] == {"g8s.io/certificate": "api"}


def test_certificate_takes_ttl_and_algorithm() -> None:
    spec = cluster_spec(
        certificates={"ttl": "100h", "renewBefore": "10h", "keyAlgorithm": "RSA2048"}
    )
    built = certificate.build(spec, catalogue.ADMIN)["spec"]
    assert (built["ttl"], built["renewBefore"], built["keyAlgorithm"]) == ("100h", "10h", "RSA2048")


def test_etcdcluster_uses_the_etcd_certificate_secrets() -> None:
    built = etcdcluster.build(cluster_spec(etcd={"replicas": 3, "storageGiB": 5}))
    assert built["metadata"]["name"] == "c1"
    assert built["spec"]["replicas"] == 3
    assert built["spec"]["storage"] == {"sizeGiB": 5}
    assert built["spec"]["tls"] == {
        "serverSecretName": "c1-etcd-server",
        "peerSecretName": "c1-etcd-peer",
        "clientSecretName": "c1-etcd-client",
    }
    assert "restore" not in built["spec"]


def test_etcdcluster_starts_from_the_snapshot_the_cluster_names() -> None:
    checksum = "ab" * 32
    snapshot = {"location": "ns1/old/20261204T120000Z-manual.db", "checksum": checksum}
    built = etcdcluster.build(cluster_spec(etcd={"restoreFrom": snapshot}))
    assert built["spec"]["restore"] == snapshot
    # Without a checksum the etcd operator takes the file's own.
    built = etcdcluster.build(cluster_spec(etcd={"restoreFrom": {"location": "ns1/a/b.db"}}))
    assert built["spec"]["restore"] == {"location": "ns1/a/b.db"}


def test_clusternetwork_leaves_allocation_to_its_operator() -> None:
    built = clusternetwork.build(cluster_spec())
    assert built["metadata"]["name"] == "c1"
    assert "vni" not in built["spec"]
    assert "subnet" not in built["spec"]


def test_kvmnode_is_named_by_role_and_index() -> None:
    spec = cluster_spec(workers={"replicas": 2, "cpus": 4, "memoryMiB": 8192, "diskGiB": 50})
    built = kvmnode.build(spec, "worker", 1, "1.33.0")
    assert built["metadata"]["name"] == names.kvm_node("c1", "worker", 1)
    assert built["metadata"]["labels"] == {"g8s.io/node-role": "worker"}
    assert built["spec"] | {} == {
        "cluster": "c1",
        "role": "worker",
        "index": 1,
        "network": "c1",
        "kubernetesVersion": "1.33.0",
        "cpus": 4,
        "memoryMiB": 8192,
        "diskGiB": 50,
        "serviceCIDR": "172.31.0.0/16",
        "podCIDR": "10.2.0.0/16",
    }
    control = kvmnode.build(spec, "controlplane", 0, "1.34.2")
    assert control["spec"]["cpus"] == 2
    assert control["metadata"]["name"].startswith("c1-cp-")


def test_encryption_secret_holds_the_32_byte_key() -> None:
    built = encryption.build(cluster_spec(), bytes(range(32)))
    assert built["metadata"]["name"] == "c1-encryption"
    assert base64.b64decode(built["data"]["key"]) == bytes(range(32))
    with pytest.raises(ValueError, match="32 bytes"):
        encryption.build(cluster_spec(), b"short")


def test_service_has_no_selector_its_endpoints_are_the_vms() -> None:
    built = service.build(cluster_spec())
    assert built["metadata"]["name"] == "c1-apiserver"
    assert "selector" not in built["spec"]
    assert built["spec"]["ports"][0]["targetPort"] == 6443
    slice_ = service.endpoint_slice(cluster_spec(), ["10.0.0.11", "10.0.0.10"])
    assert [e["addresses"][0] for e in slice_["endpoints"]] == ["10.0.0.10", "10.0.0.11"]
    assert service.endpoint(cluster_spec()) == "https://c1-apiserver.ns.svc:443"


def test_kubeconfig_secret_embeds_admin_credentials() -> None:
    built = kubeconfig.build(
        cluster_spec(), server="https://x:443", ca="Q0E=", cert="Q0VSVA==", key="S0VZ"
    )
    assert built["metadata"]["name"] == "c1-kubeconfig"
    config = json.loads(base64.b64decode(built["data"]["value"]))
    assert config["clusters"][0]["cluster"] == {
        "server": "https://x:443",
        "certificate-authority-data": "Q0E=",
    }
    assert config["users"][0]["user"] == {
        "client-certificate-data": "Q0VSVA==",
        "client-key-data": "S0VZ",
    }
    assert config["current-context"] == "admin@c1"
