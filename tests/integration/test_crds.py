"""The five CRDs on the real kube-apiserver.

Covers: the CRDs install (the server accepts every CEL rule within its cost
budget) and become Established with their short names and the ``g8s``
category; every example applies under strict field validation and reads back
with exactly the defaults the schema declares (the minimal Cluster reads back
as docs/design.md#the-cluster-resource); ``kubectl get g8s`` lists objects of all five kinds;
``kubectl get clusters`` shows the printer columns; ``kubectl explain
clusters.spec.etcd`` describes the fields; the immutable fields (a Cluster's
baseDomain and CIDRs, a Certificate's cluster and component, a KVMNode's
cluster, role and index, an EtcdCluster's restore source and a Cluster's
(only at creation), a ClusterNetwork's
VNI and subnet once set) refuse a change with a message naming the field,
while ordinary changes (scaling, a one-minor upgrade, setting a VNI once) are
accepted, and a downgrade or a two-minor jump is refused.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.api import API_VERSION, CATEGORY, kinds
from tests.localenv import ROOT, LocalEnv

CRDS = ROOT / "crds"
EXAMPLES = ROOT / "examples"
RESOURCES = {kind.kind: kind.crd_name for kind in kinds.ALL_KINDS}
EXPLAIN_TIMEOUT = 60.0


# --- fixtures and helpers -----------------------------------------------------------


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def crd_schema(kind: str) -> Mapping[str, Any]:
    crd = documents(CRDS / f"{RESOURCES[kind]}.yaml")[0]
    schema: Mapping[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def with_defaults(schema: Mapping[str, Any], value: Any) -> Any:
    """``value`` defaulted the way the API server defaults it: missing fields, top down."""
    value = copy.deepcopy(value)
    if isinstance(value, dict):
        for name, child in (schema.get("properties") or {}).items():
            if name not in value and "default" in child:
                value[name] = copy.deepcopy(child["default"])
            if name in value:
                value[name] = with_defaults(child, value[name])
    elif isinstance(value, list) and "items" in schema:
        value = [with_defaults(schema["items"], item) for item in value]
    return value


def get(env: LocalEnv, obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    result = env.kubectl(
        "get", RESOURCES[obj["kind"]], meta["name"], "-n", meta["namespace"], "-o", "json"
    )
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def apply(env: LocalEnv, obj: Mapping[str, Any], *, check: bool = True) -> tuple[bool, str]:
    result = env.kubectl(
        "apply", "--validate=strict", "--filename=-", input=json.dumps(obj), check=check
    )
    return result.returncode == 0, result.stderr + result.stdout


def delete(env: LocalEnv, obj: Mapping[str, Any]) -> None:
    meta = obj["metadata"]
    env.kubectl(
        "delete",
        RESOURCES[obj["kind"]],
        meta["name"],
        "-n",
        meta["namespace"],
        "--ignore-not-found",
        "--wait=false",
        check=False,
    )


def changed(obj: Mapping[str, Any], path: str, value: Any) -> dict[str, Any]:
    result = copy.deepcopy(dict(obj))
    *parents, last = path.split(".")
    node = result
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return result


def cluster(namespace: str, name: str = "imm") -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"baseDomain": f"{name}.g8s.local"},
    }


def example_paths() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml"))


# --- installation -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", kinds.ALL_KINDS, ids=[k.kind for k in kinds.ALL_KINDS])
def test_crd_is_established_with_its_names(
    local_env: LocalEnv, crds: Path, kind: kinds.Kind
) -> None:
    crd = json.loads(local_env.kubectl("get", "crd", kind.crd_name, "-o", "json").stdout)
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions["Established"] == "True"
    assert conditions["NamesAccepted"] == "True"
    accepted = crd["status"]["acceptedNames"]
    assert accepted["kind"] == kind.kind
    assert accepted["plural"] == kind.plural
    assert accepted["shortNames"] == [kind.short_name]
    assert accepted["categories"] == [CATEGORY]


def test_the_api_server_serves_the_short_names(local_env: LocalEnv, crds: Path) -> None:
    for kind in kinds.ALL_KINDS:
        local_env.kubectl("get", kind.short_name, "--all-namespaces")


# --- examples -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", example_paths(), ids=lambda p: p.name)
def test_example_applies_and_reads_back_defaulted(
    local_env: LocalEnv, crds: Path, path: Path
) -> None:
    try:
        local_env.kubectl("apply", "--validate=strict", "-f", str(path))
        for doc in documents(path):
            stored = get(local_env, doc)
            spec_schema = crd_schema(doc["kind"])["properties"]["spec"]
            assert stored["spec"] == with_defaults(spec_schema, doc["spec"])
    finally:
        local_env.kubectl("delete", "--ignore-not-found", "--wait=false", "-f", str(path))


def test_minimal_cluster_reads_back_with_the_documented_defaults(
    local_env: LocalEnv, namespace: str
) -> None:
    design = documents(EXAMPLES / "cluster.yaml")[0]["spec"]
    minimal = cluster(namespace, "minimal")
    try:
        apply(local_env, minimal)
        stored = get(local_env, minimal)
        assert stored["spec"] == {**design, "baseDomain": "minimal.g8s.local"}
    finally:
        delete(local_env, minimal)


def test_get_g8s_lists_objects_of_every_kind(local_env: LocalEnv, crds: Path) -> None:
    try:
        local_env.kubectl("apply", "--validate=strict", "-f", str(EXAMPLES))
        listed = json.loads(
            local_env.kubectl("get", CATEGORY, "-n", "default", "-o", "json").stdout
        )["items"]
        assert {item["kind"] for item in listed} >= {kind.kind for kind in kinds.ALL_KINDS}
        table = local_env.kubectl("get", CATEGORY, "-n", "default").stdout
        for path in example_paths():
            for doc in documents(path):
                resource = RESOURCES[doc["kind"]].split(".", 1)
                singular = f"{doc['kind'].lower()}.{resource[1]}"
                assert f"{singular}/{doc['metadata']['name']}" in table, table
    finally:
        local_env.kubectl("delete", "--ignore-not-found", "--wait=false", "-f", str(EXAMPLES))


def test_cluster_printer_columns(local_env: LocalEnv, namespace: str) -> None:
    obj = cluster(namespace, "columns")
    try:
        apply(local_env, obj)
        header = local_env.kubectl("get", "clusters.g8s.io", "-n", namespace).stdout
        assert header.split("\n")[0].split() == [
            "NAME",
            "READY",
            "PHASE",
            "VERSION",
            "CP-READY",
            "CP-DESIRED",
            "WORKERS-READY",
            "WORKERS-DESIRED",
            "AGE",
        ]
        assert header.split("\n")[1].split()[:4] == ["columns", "1.34.4", "1", "2"]
        wide = local_env.kubectl("get", "g8c", "-n", namespace, "-o", "wide").stdout
        assert "ENDPOINT" in wide.split("\n")[0]
    finally:
        delete(local_env, obj)


def test_explain_describes_the_etcd_fields(local_env: LocalEnv, crds: Path) -> None:
    # The OpenAPI document is published a moment after the CRD is Established.
    deadline = time.monotonic() + EXPLAIN_TIMEOUT
    while True:
        result = local_env.kubectl("explain", "clusters.spec.etcd", check=False)
        if result.returncode == 0 and "storageGiB" in result.stdout:
            break
        assert time.monotonic() < deadline, f"kubectl explain failed:\n{result.stderr}"
        time.sleep(1)
    text = result.stdout
    assert "KIND:       Cluster" in text
    for field, words in [
        ("replicas", "Number of etcd members; 1, 3 or 5"),
        ("storageGiB", "Size of each member's data volume in GiB"),
        ("backup", "Scheduled snapshots of the etcd data"),
    ]:
        assert field in text
        assert words in text
    backup = local_env.kubectl("explain", "clusters.spec.etcd.backup").stdout
    assert "schedule" in backup
    assert "five-field cron expression" in backup
    assert "keep" in backup


# --- immutability and transitions ------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("spec.baseDomain", "other.g8s.local"),
        ("spec.network.serviceCIDR", "172.30.0.0/16"),
        ("spec.network.podCIDR", "10.3.0.0/16"),
    ],
    ids=["baseDomain", "serviceCIDR", "podCIDR"],
)
def test_cluster_field_is_immutable(
    local_env: LocalEnv, namespace: str, path: str, value: str
) -> None:
    obj = cluster(namespace)
    try:
        apply(local_env, obj)
        ok, output = apply(local_env, changed(obj, path, value), check=False)
        assert not ok, output
        assert f"{path}: Forbidden: {path} is immutable" in output
        assert get(local_env, obj)["spec"]["baseDomain"] == "imm.g8s.local"
    finally:
        delete(local_env, obj)


SNAPSHOT = {"location": "ns/old/20261204T120000Z-manual.db", "checksum": "ab" * 32}


def test_a_clusters_restore_source_is_set_at_creation_only(
    local_env: LocalEnv, namespace: str
) -> None:
    path = "spec.etcd.restoreFrom"
    plain, restored = (
        cluster(namespace),
        changed(cluster(namespace, "imm-restored"), path, SNAPSHOT),
    )
    try:
        apply(local_env, plain)
        ok, output = apply(local_env, changed(plain, path, SNAPSHOT), check=False)
        assert not ok, output
        assert f"{path}: Forbidden: {path} can only be set when the Cluster is created" in output

        apply(local_env, restored)
        assert get(local_env, restored)["spec"]["etcd"]["restoreFrom"] == SNAPSHOT
        other_file = {**SNAPSHOT, "location": "ns/old/20261205T000000Z-manual.db"}
        ok, output = apply(local_env, changed(restored, path, other_file), check=False)
        assert not ok, output
        assert f"{path}: Forbidden: {path} is immutable" in output
        # Scaling a restored cluster is an ordinary change.
        apply(local_env, changed(restored, "spec.workers", {"replicas": 3}))
        assert get(local_env, restored)["spec"]["etcd"]["restoreFrom"] == SNAPSHOT
    finally:
        delete(local_env, plain)
        delete(local_env, restored)


def test_cluster_accepts_scaling_and_a_one_minor_upgrade(
    local_env: LocalEnv, namespace: str
) -> None:
    obj = cluster(namespace)
    try:
        apply(local_env, obj)
        update = changed(obj, "spec.workers", {"replicas": 5})
        update = changed(update, "spec.kubernetesVersion", "1.35.0")
        apply(local_env, update)
        stored = get(local_env, obj)["spec"]
        assert stored["workers"]["replicas"] == 5
        assert stored["workers"]["cpus"] == 2
        assert stored["kubernetesVersion"] == "1.35.0"
    finally:
        delete(local_env, obj)


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("1.33.9", "cannot go back to an older minor version"),
        ("1.36.0", "can move up one minor version at a time"),
    ],
    ids=["downgrade", "two-minor-jump"],
)
def test_cluster_version_moves_one_minor_up(
    local_env: LocalEnv, namespace: str, version: str, message: str
) -> None:
    obj = cluster(namespace)
    try:
        apply(local_env, obj)
        ok, output = apply(local_env, changed(obj, "spec.kubernetesVersion", version), check=False)
        assert not ok, output
        assert f"spec.kubernetesVersion: Forbidden: spec.kubernetesVersion {message}" in output
    finally:
        delete(local_env, obj)


def other(kind: str, namespace: str) -> dict[str, Any]:
    specs: dict[str, dict[str, Any]] = {
        "Certificate": {"cluster": "c1", "component": "admin"},
        "KVMNode": {"cluster": "c1", "role": "worker", "index": 0, "network": "c1"},
        "EtcdCluster": {
            "tls": {
                "serverSecretName": "c1-etcd-server",
                "peerSecretName": "c1-etcd-peer",
                "clientSecretName": "c1-etcd-client",
            }
        },
        "ClusterNetwork": {"vni": 100, "subnet": "10.100.0.0/24"},
    }
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {"name": "c1", "namespace": namespace},
        "spec": specs[kind],
    }


@pytest.mark.parametrize(
    ("kind", "path", "value"),
    [
        ("Certificate", "spec.cluster", "c2"),
        ("Certificate", "spec.component", "worker"),
        ("KVMNode", "spec.cluster", "c2"),
        ("KVMNode", "spec.role", "controlplane"),
        ("KVMNode", "spec.index", 1),
        ("KVMNode", "spec.network", "c2"),
        ("EtcdCluster", "spec.restore", {"location": "default/c0/snap.db"}),
        ("ClusterNetwork", "spec.vni", 101),
        ("ClusterNetwork", "spec.subnet", "10.100.1.0/24"),
    ],
    ids=[
        "Certificate-cluster",
        "Certificate-component",
        "KVMNode-cluster",
        "KVMNode-role",
        "KVMNode-index",
        "KVMNode-network",
        "EtcdCluster-restore-added",
        "ClusterNetwork-vni",
        "ClusterNetwork-subnet",
    ],
)
def test_field_of_another_kind_is_immutable(
    local_env: LocalEnv, namespace: str, kind: str, path: str, value: Any
) -> None:
    obj = other(kind, namespace)
    try:
        apply(local_env, obj)
        ok, output = apply(local_env, changed(obj, path, value), check=False)
        assert not ok, output
        assert f"{path}: Forbidden: {path}" in output
    finally:
        delete(local_env, obj)


def test_cluster_network_vni_can_be_set_once(local_env: LocalEnv, namespace: str) -> None:
    obj = {**other("ClusterNetwork", namespace), "spec": {}}
    try:
        apply(local_env, obj)
        assert get(local_env, obj)["spec"] == {"mtu": 1450}
        apply(local_env, changed(obj, "spec.vni", 7))
        assert get(local_env, obj)["spec"]["vni"] == 7
    finally:
        delete(local_env, obj)
