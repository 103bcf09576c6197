"""Invalid objects are refused by the real kube-apiserver, each with a message naming the field.

Covers, one test per case: invalid ``Cluster`` objects (odd replica counts,
CPU / memory / disk / replica ranges, CIDR format, prefix lengths and overlap,
name length and form, Kubernetes version, base domain, certificate TTLs and
key algorithm, backup schedule and retention, rollout and remediation settings, wrong types,
unknown fields under strict field validation, a missing base domain), and a
few invalid objects of the other kinds (Certificate component, names, IPs and
TTLs; KVMNode role, index and name; EtcdCluster replicas, TLS and backup path;
ClusterNetwork VNI, subnet and MTU). Each object differs from a valid one in
exactly one place, the valid ones are accepted (server-side dry run), and the
error output must name the field and say what is allowed. Nothing is left
behind: every test deletes its object, even one wrongly accepted.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shared.api import kinds
from tests.localenv import LocalEnv
from tests.objects import BUILDERS, MISSING, changed, cluster

RESOURCES = {kind.kind: kind.crd_name for kind in kinds.ALL_KINDS}


@dataclass(frozen=True)
class Case:
    """One invalid object: ``path`` of a valid object set to ``value`` (or removed)."""

    id: str
    path: str
    value: Any
    # Every string must appear in the API server's error output.
    expected: tuple[str, ...]


CLUSTER_CASES = [
    Case(
        "control-plane-replicas-even",
        "spec.controlPlane.replicas",
        2,
        ("spec.controlPlane.replicas:", "must be odd: 1, 3, 5 or 7"),
    ),
    Case(
        "control-plane-replicas-zero",
        "spec.controlPlane.replicas",
        0,
        ("spec.controlPlane.replicas:", "1, 3, 5 or 7"),
    ),
    Case("etcd-replicas-4", "spec.etcd.replicas", 4, ("spec.etcd.replicas:", "1, 3 or 5")),
    Case(
        "etcd-restore-outside-the-store",
        "spec.etcd.restoreFrom",
        {"location": "ns/../../etc/x.db"},
        ("spec.etcd.restoreFrom.location:", "a path inside the backup store"),
    ),
    Case(
        "etcd-restore-not-a-snapshot",
        "spec.etcd.restoreFrom",
        {"location": "ns/demo/notes.txt"},
        ("spec.etcd.restoreFrom.location:", "ending in .db"),
    ),
    Case(
        "etcd-restore-checksum",
        "spec.etcd.restoreFrom",
        {"location": "ns/demo/a.db", "checksum": "ABC"},
        ("spec.etcd.restoreFrom.checksum:", "64 lower-case hex digits"),
    ),
    Case(
        "etcd-restore-without-location",
        "spec.etcd.restoreFrom",
        {"checksum": "ab" * 32},
        ("spec.etcd.restoreFrom.location:", "Required value"),
    ),
    Case("etcd-replicas-7", "spec.etcd.replicas", 7, ("spec.etcd.replicas:", "1, 3 or 5")),
    Case(
        "control-plane-cpus-negative",
        "spec.controlPlane.cpus",
        -1,
        ("spec.controlPlane.cpus:", "between 1 and 64"),
    ),
    Case(
        "worker-cpus-too-many", "spec.workers.cpus", 65, ("spec.workers.cpus:", "between 1 and 64")
    ),
    Case(
        "control-plane-memory-too-small",
        "spec.controlPlane.memoryMiB",
        512,
        ("spec.controlPlane.memoryMiB:", "between 2048 and 524288"),
    ),
    Case(
        "worker-memory-too-small",
        "spec.workers.memoryMiB",
        256,
        ("spec.workers.memoryMiB:", "between 1024 and 524288"),
    ),
    Case(
        "worker-disk-too-small",
        "spec.workers.diskGiB",
        5,
        ("spec.workers.diskGiB:", "between 10 and 4096"),
    ),
    Case(
        "worker-replicas-negative",
        "spec.workers.replicas",
        -1,
        ("spec.workers.replicas:", "between 0 and 100"),
    ),
    Case(
        "worker-replicas-too-many",
        "spec.workers.replicas",
        101,
        ("spec.workers.replicas:", "between 0 and 100"),
    ),
    Case(
        "etcd-storage-zero",
        "spec.etcd.storageGiB",
        0,
        ("spec.etcd.storageGiB:", "between 1 and 1024"),
    ),
    Case(
        "backup-schedule-not-cron",
        "spec.etcd.backup.schedule",
        "every six hours",
        ("spec.etcd.backup.schedule:", "cron expression of five fields"),
    ),
    Case(
        "backup-keep-zero",
        "spec.etcd.backup.keep",
        0,
        ("spec.etcd.backup.keep:", "between 1 and 100"),
    ),
    Case(
        "service-cidr-malformed",
        "spec.network.serviceCIDR",
        "172.31.0.0/33",
        ("spec.network.serviceCIDR:", "must be an IPv4 CIDR"),
    ),
    Case(
        "pod-cidr-ipv6",
        "spec.network.podCIDR",
        "fd00:10:2::/64",
        ("spec.network.podCIDR:", "must be an IPv4 CIDR"),
    ),
    Case(
        "service-cidr-host-bits-set",
        "spec.network.serviceCIDR",
        "172.31.0.1/16",
        ("spec.network.serviceCIDR:", "network address of its range"),
    ),
    Case(
        "service-cidr-too-large",
        "spec.network.serviceCIDR",
        "172.0.0.0/8",
        ("spec.network.serviceCIDR:", "prefix length between /12 and /24"),
    ),
    Case(
        "cidrs-overlap",
        "spec.network.serviceCIDR",
        "10.0.0.0/12",
        ("spec.network.podCIDR:", "must not overlap spec.network.serviceCIDR"),
    ),
    Case(
        "name-too-long",
        "metadata.name",
        "c" * 37,
        ("metadata.name:", "at most 36 characters"),
    ),
    Case(
        "name-ends-in-apiserver",
        "metadata.name",
        "demo-apiserver",
        ("metadata.name:", 'must not end in "-apiserver"'),
    ),
    Case(
        "name-not-a-dns-label",
        "metadata.name",
        "9lives.demo",
        ("metadata.name:", "must be a DNS label"),
    ),
    Case(
        "version-with-v-prefix",
        "spec.kubernetesVersion",
        "v1.34.2",
        ("spec.kubernetesVersion:", 'such as "1.34.2"'),
    ),
    Case(
        "version-major-2",
        "spec.kubernetesVersion",
        "2.0.0",
        ("spec.kubernetesVersion:", "1.MINOR.PATCH"),
    ),
    Case(
        "base-domain-invalid",
        "spec.baseDomain",
        "Demo_Domain!",
        ("spec.baseDomain:", "lower-case DNS name"),
    ),
    Case(
        "base-domain-label-too-long",
        "spec.baseDomain",
        f"{'a' * 64}.g8s.local",
        ("spec.baseDomain:", "at most 63 characters each"),
    ),
    Case("base-domain-missing", "spec.baseDomain", MISSING, ("spec.baseDomain:", "Required value")),
    Case(
        "ttl-not-a-duration",
        "spec.certificates.ttl",
        "180 days",
        ("spec.certificates.ttl:", "must be a duration such as 4320h"),
    ),
    Case(
        "ttl-too-short",
        "spec.certificates.ttl",
        "30m",
        ("spec.certificates.ttl:", "between 1h and 87600h"),
    ),
    Case(
        "renew-before-equals-ttl",
        "spec.certificates.renewBefore",
        "4320h",
        ("spec.certificates.renewBefore:", "must be shorter than spec.certificates.ttl"),
    ),
    Case(
        "renew-before-longer-than-ttl",
        "spec.certificates.renewBefore",
        "5000h",
        ("spec.certificates.renewBefore:", "must be shorter than spec.certificates.ttl"),
    ),
    Case(
        "key-algorithm-unknown",
        "spec.certificates.keyAlgorithm",
        "DSA",
        ("spec.certificates.keyAlgorithm:", '"ECDSAP256", "RSA2048", "RSA4096"'),
    ),
    Case(
        "rollout-cannot-progress",
        "spec.rollout",
        {"maxSurge": 0, "maxUnavailable": 0},
        ("spec.rollout.maxSurge:", "cannot both be 0"),
    ),
    Case(
        "max-surge-too-large",
        "spec.rollout.maxSurge",
        11,
        ("spec.rollout.maxSurge:", "between 0 and 10"),
    ),
    Case(
        "unhealthy-timeout-too-short",
        "spec.remediation.unhealthyTimeout",
        "10s",
        ("spec.remediation.unhealthyTimeout:", "between 30s and 24h"),
    ),
    Case(
        "startup-timeout-not-a-duration",
        "spec.remediation.startupTimeout",
        "soon",
        ("spec.remediation.startupTimeout:", "must be a duration"),
    ),
    Case(
        "max-unhealthy-over-100-percent",
        "spec.remediation.maxUnhealthy",
        "120%",
        ("spec.remediation.maxUnhealthy:", "at most 100%"),
    ),
    Case(
        "max-unhealthy-negative",
        "spec.remediation.maxUnhealthy",
        -1,
        ("spec.remediation.maxUnhealthy:", "count of at least 0"),
    ),
    Case(
        "paused-not-a-boolean",
        "spec.paused",
        "yes",
        ("spec.paused:", "must be of type boolean"),
    ),
    Case(
        "cpus-not-an-integer",
        "spec.workers.cpus",
        "two",
        ("spec.workers.cpus:", "must be of type integer"),
    ),
    Case("unknown-spec-field", "spec.gpus", 1, ('unknown field "spec.gpus"',)),
    Case(
        "unknown-nested-field",
        "spec.controlPlane.instanceType",
        "large",
        ('unknown field "spec.controlPlane.instanceType"',),
    ),
]

OTHER_CASES = [
    (
        "Certificate",
        Case(
            "certificate-component-unknown",
            "spec.component",
            "kubelet",
            ("spec.component:", "Unsupported value", '"etcd-server"'),
        ),
    ),
    (
        "Certificate",
        Case(
            "certificate-ip-invalid",
            "spec.ipAddresses",
            ["172.31.0.300"],
            ("spec.ipAddresses[0]:", "must be IP addresses"),
        ),
    ),
    (
        "Certificate",
        Case(
            "certificate-dns-name-invalid",
            "spec.dnsNames",
            ["API_server.local"],
            ("spec.dnsNames[0]:", "lower-case DNS names"),
        ),
    ),
    (
        "Certificate",
        Case(
            "certificate-ttl-invalid",
            "spec.ttl",
            "forever",
            ("spec.ttl:", "must be a duration"),
        ),
    ),
    (
        "Certificate",
        Case(
            "certificate-renew-before-too-long",
            "spec.renewBefore",
            "5000h",
            ("spec.renewBefore:", "must be shorter than spec.ttl"),
        ),
    ),
    (
        "Certificate",
        Case(
            "certificate-cluster-missing",
            "spec.cluster",
            MISSING,
            ("spec.cluster:", "Required value"),
        ),
    ),
    (
        "KVMNode",
        Case(
            "kvm-node-role-unknown",
            "spec.role",
            "master",
            ("spec.role:", "Unsupported value", '"controlplane", "worker"'),
        ),
    ),
    (
        "KVMNode",
        Case("kvm-node-index-negative", "spec.index", -1, ("spec.index:", "between 0 and 999")),
    ),
    (
        "KVMNode",
        Case(
            "kvm-node-name-too-long",
            "metadata.name",
            "n" * 47,
            ("metadata.name:", "at most 46 characters"),
        ),
    ),
    (
        "KVMNode",
        Case(
            "kvm-node-drain-timeout-too-long",
            "spec.drainTimeout",
            "48h",
            ("spec.drainTimeout:", "at most 24h"),
        ),
    ),
    (
        "EtcdCluster",
        Case("etcd-replicas-even", "spec.replicas", 4, ("spec.replicas:", "1, 3 or 5")),
    ),
    (
        "EtcdCluster",
        Case("etcd-tls-missing", "spec.tls", MISSING, ("spec.tls:", "Required value")),
    ),
    (
        "EtcdCluster",
        Case(
            "etcd-backup-path-escapes",
            "spec.backup.store.path",
            "../other",
            ("spec.backup.store.path:", "relative path without '..'"),
        ),
    ),
    (
        "ClusterNetwork",
        Case("vni-zero", "spec.vni", 0, ("spec.vni:", "between 1 and 16777215")),
    ),
    (
        "ClusterNetwork",
        Case("vni-too-large", "spec.vni", 16777216, ("spec.vni:", "between 1 and 16777215")),
    ),
    (
        "ClusterNetwork",
        Case(
            "subnet-host-bits-set",
            "spec.subnet",
            "10.100.3.1/24",
            ("spec.subnet:", "network address of its range"),
        ),
    ),
    (
        "ClusterNetwork",
        Case("mtu-too-small", "spec.mtu", 1000, ("spec.mtu:", "between 1280 and 9000")),
    ),
]


# --- fixtures and helpers -----------------------------------------------------------


@pytest.fixture(scope="module")
def namespace(local_env: LocalEnv, crds: Path) -> Iterator[str]:
    name = f"g8s-validation-{secrets.token_hex(3)}"
    local_env.kubectl("create", "namespace", name)
    yield name
    local_env.kubectl("delete", "namespace", name, "--wait=false", check=False)


def delete(env: LocalEnv, obj: dict[str, Any]) -> None:
    meta = obj["metadata"]
    env.kubectl(
        "delete",
        RESOURCES[obj["kind"]],
        meta["name"],
        "--namespace",
        meta["namespace"],
        "--ignore-not-found",
        "--wait=false",
        check=False,
    )


def assert_rejected(env: LocalEnv, obj: dict[str, Any], expected: tuple[str, ...]) -> None:
    try:
        result = env.kubectl(
            "apply", "--validate=strict", "--filename=-", input=json.dumps(obj), check=False
        )
        output = result.stderr + result.stdout
        assert result.returncode != 0, f"accepted: {json.dumps(obj)}\n{output}"
        for text in expected:
            assert text in output, f"{text!r} not in the API server's answer:\n{output}"
    finally:
        delete(env, obj)


# --- tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_the_valid_objects_the_cases_start_from_are_accepted(
    local_env: LocalEnv, namespace: str, kind: str
) -> None:
    obj = BUILDERS[kind]("valid", namespace)
    local_env.kubectl(
        "apply", "--dry-run=server", "--validate=strict", "--filename=-", input=json.dumps(obj)
    )


@pytest.mark.parametrize("case", CLUSTER_CASES, ids=[case.id for case in CLUSTER_CASES])
def test_invalid_cluster_is_rejected(local_env: LocalEnv, namespace: str, case: Case) -> None:
    obj = changed(cluster("invalid", namespace), case.path, case.value)
    assert_rejected(local_env, obj, case.expected)


@pytest.mark.parametrize(("kind", "case"), OTHER_CASES, ids=[case.id for _, case in OTHER_CASES])
def test_invalid_object_of_another_kind_is_rejected(
    local_env: LocalEnv, namespace: str, kind: str, case: Case
) -> None:
    obj = changed(BUILDERS[kind]("invalid", namespace), case.path, case.value)
    assert_rejected(local_env, obj, case.expected)
