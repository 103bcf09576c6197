"""The reconcile steps against an in-memory stand-in for the Kubernetes adapter.

Covers: every child created once and owned by the Cluster, the encryption key
created once and never rotated, the kubeconfig only once the admin
certificate is issued, scaling through the plans, pause propagation with its
own field manager, the deletion order, the child-change token, and a child
name another Cluster already holds (reported as NameTaken, nothing taken over).
"""

import asyncio
import base64
import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from operators.cluster import policies, reconcile
from operators.cluster.model import parse
from operators.cluster.reconcile import Run
from shared.api import certificates as catalogue
from shared.api import encryption, names
from shared.api.kinds import CERTIFICATE
from shared.api.labels import CLUSTER as LABEL
from shared.errors import InvalidSpec, Retry
from shared.kube import ObjectRef
from shared.listed import Listed
from shared.steps import Outcome, Step
from tests.unit.cluster.helpers import SERVICE_IP_PREFIX, UID, FakeKube, cluster_body, ready

# A few minutes after the fake API server's creation times: no node is overdue.
NOW = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)


def run_all(
    kube: FakeKube,
    body: dict[str, Any],
    key: bytes = b"k" * 32,
    now: datetime = NOW,
    listed: Listed | None = None,
) -> Run:
    run = Run(parse(body), body, kube.as_kube(), new_key=lambda: key, now=now, listed=listed)
    for step in reconcile.STEPS:
        result = step.run(run)
        assert result is None
    return run


def mark_ready(kube: FakeKube, kind: str) -> None:
    for obj in kube.of(kind):
        obj["status"] = ready(generation=obj["metadata"].get("generation", 1))


def run_initialized(kube: FakeKube, body: dict[str, Any]) -> Run:
    """Reconcile until the workers exist: they wait for a Ready control-plane node."""
    run_all(kube, body)
    mark_ready(kube, "KVMNode")
    return run_all(kube, body)


def test_first_reconcile_creates_every_child_owned_by_the_cluster() -> None:
    kube = FakeKube()
    run = run_all(kube, cluster_body())
    assert len(kube.of("Certificate")) == len(catalogue.COMPONENTS)
    assert len(kube.of("EtcdCluster")) == 1
    assert len(kube.of("ClusterNetwork")) == 1
    # Workers wait until a control-plane node is Ready.
    assert [n["spec"]["role"] for n in kube.of("KVMNode")] == ["controlplane"]
    assert run.observed.plans[1].waiting == policies.WORKERS_WAIT
    mark_ready(kube, "KVMNode")
    run_all(kube, cluster_body())
    nodes = kube.of("KVMNode")
    assert sorted(n["spec"]["role"] for n in nodes) == ["controlplane", "worker", "worker"]
    assert sorted(n["spec"]["index"] for n in nodes) == [0, 0, 1]
    assert len(kube.of("Service")) == 1
    for obj in kube.objects.values():
        meta = obj["metadata"]
        assert meta["ownerReferences"][0]["uid"] == UID
        assert meta["labels"]["g8s.io/cluster"] == "c1"
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "g8s-cluster"
        assert meta["namespace"] == "ns"
    # No admin certificate yet: no kubeconfig.
    assert [s["metadata"]["name"] for s in kube.of("Secret")] == ["c1-encryption"]


def test_reconciling_again_creates_no_duplicates_and_keeps_the_key() -> None:
    kube = FakeKube()
    run_all(kube, cluster_body(), key=b"a" * 32)
    count = len(kube.objects)
    run_all(kube, cluster_body(), key=b"b" * 32)
    assert len(kube.objects) == count
    secret = next(s for s in kube.of("Secret") if s["metadata"]["name"] == "c1-encryption")
    assert base64.b64decode(secret["data"]["key"]) == b"a" * 32
    assert kube.creates == 1


def watch(kube: FakeKube, listed: Listed) -> None:
    """What the watches would tell: every object as it is now."""
    for obj in kube.objects.values():
        listed.seen(obj, deleted=False)


def test_a_look_at_children_the_watches_keep_lists_nothing() -> None:
    kube, listed = FakeKube(), Listed(LABEL)
    run_all(kube, cluster_body(), listed=listed)
    assert sorted(kube.listed) == ["Certificate", "ClusterNetwork", "EtcdCluster", "KVMNode"]
    count = len(kube.objects)
    mark_ready(kube, "KVMNode")
    watch(kube, listed)
    run = run_all(kube, cluster_body(), listed=listed)
    assert len(kube.listed) == 4
    # The control plane's readiness came by the watch: the workers are made.
    roles = sorted(n["spec"]["role"] for n in kube.of("KVMNode"))
    assert roles == ["controlplane", "worker", "worker"]
    # What the first look applied was found by the second, from the answers kept.
    assert len(kube.objects) == count + 2
    assert len(run.of(CERTIFICATE)) == len(catalogue.COMPONENTS)


def test_a_node_deleted_by_the_cluster_makes_the_next_look_list_the_nodes() -> None:
    kube, listed = FakeKube(), Listed(LABEL)
    run_initialized(kube, cluster_body())
    run_all(kube, cluster_body(), listed=listed)
    kube.listed.clear()
    run_all(kube, cluster_body(workers={"replicas": 1}), listed=listed)
    assert kube.listed == []
    run_all(kube, cluster_body(workers={"replicas": 1}), listed=listed)
    assert kube.listed == ["KVMNode"]
    assert len([n for n in kube.of("KVMNode") if n["spec"]["role"] == "worker"]) == 1


def test_kubeconfig_once_the_admin_certificate_is_ready() -> None:
    kube = FakeKube()
    run_all(kube, cluster_body())
    mark_ready(kube, "Certificate")
    b64 = base64.b64encode
    kube.add(
        {
            "kind": "Secret",
            "metadata": {"name": "c1-admin", "namespace": "ns"},
            "data": {"tls.crt": b64(b"CERT").decode(), "tls.key": b64(b"KEY").decode()},
        }
    )
    kube.add(
        {
            "kind": "Secret",
            "metadata": {"name": names.ca_secret("c1"), "namespace": "ns"},
            "data": {"ca.crt": b64(b"CA").decode()},
        }
    )
    run = run_all(kube, cluster_body())
    assert run.observed.kubeconfig
    secret = next(s for s in kube.of("Secret") if s["metadata"]["name"] == "c1-kubeconfig")
    config = json.loads(base64.b64decode(secret["data"]["value"]))
    assert config["users"][0]["user"]["client-key-data"] == b64(b"KEY").decode()
    assert config["clusters"][0]["cluster"]["certificate-authority-data"] == b64(b"CA").decode()
    service = next(s for s in kube.of("Service") if s["metadata"]["name"] == "c1-apiserver")
    cluster_ip = service["spec"]["clusterIP"]
    assert cluster_ip.startswith(SERVICE_IP_PREFIX)
    # The kubeconfig dials the ClusterIP, which the API certificate names.
    assert config["clusters"][0]["cluster"]["server"] == f"https://{cluster_ip}:443"
    api = next(c for c in kube.of("Certificate") if c["metadata"]["name"] == "c1-api")
    assert cluster_ip in api["spec"]["ipAddresses"]


class CountingKube(FakeKube):
    """Counts the reads of each Secret."""

    def __init__(self) -> None:
        super().__init__()
        self.secret_reads: Counter[str] = Counter()

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        if ref.kind == "Secret":
            self.secret_reads[ref.name] += 1
        return super().get(ref)


def test_a_reconcile_of_a_built_cluster_reads_each_secret_once_and_no_idle_rotations() -> None:
    kube = CountingKube()
    run_all(kube, cluster_body())
    mark_ready(kube, "Certificate")
    for name, data in (("c1-admin", {"tls.crt": "Q0VSVA==", "tls.key": "S0VZ"}),
                       (names.ca_secret("c1"), {"ca.crt": "Q0E="}),
                       ("c1-service-account", {"key": "S0VZ"})):  # fmt: skip
        kube.add({"kind": "Secret", "metadata": {"name": name, "namespace": "ns"}, "data": data})
    body = cluster_body()
    body["status"] = {"caRotation": {"answered": ""}}  # the first look was taken
    run_all(kube, body)
    kube.secret_reads.clear()
    run = run_all(kube, body)
    assert run.observed.kubeconfig
    assert max(kube.secret_reads.values()) == 1, kube.secret_reads
    # No rotation asked: neither the CA bundle for it nor the key pair is read.
    assert set(kube.secret_reads) == {"c1-encryption", "c1-admin", names.ca_secret("c1")}


def test_the_api_endpoint_slice_follows_the_control_plane_vms() -> None:
    kube = FakeKube()
    run_all(kube, cluster_body())
    for node in kube.of("KVMNode"):
        node["status"] = {"ipAddress": f"198.19.128.{10 + node['spec']['index']}"}
        if node["spec"]["role"] == "worker":
            node["status"]["ipAddress"] = "198.19.128.50"
    run_all(kube, cluster_body())
    slice_ = next(s for s in kube.of("EndpointSlice") if s["metadata"]["name"] == "c1-apiserver")
    assert slice_["metadata"]["labels"]["kubernetes.io/service-name"] == "c1-apiserver"
    assert [e["addresses"] for e in slice_["endpoints"]] == [["198.19.128.10"]]
    # Both of the Service's ports go to the API server's: the operators' 443
    # and the port the guests' kubelets name.
    assert slice_["ports"] == [
        {"name": "https", "port": 6443, "protocol": "TCP"},
        {"name": "https-nodes", "port": 6443, "protocol": "TCP"},
    ]
    (api,) = [s for s in kube.of("Service") if s["metadata"]["name"] == "c1-apiserver"]
    assert {(p["name"], p["port"], p["targetPort"]) for p in api["spec"]["ports"]} == {
        ("https", 443, 6443),
        ("https-nodes", 6443, 6443),
    }


def test_scaling_workers_up_and_down() -> None:
    kube = FakeKube()
    run_initialized(kube, cluster_body())
    run_all(kube, cluster_body(workers={"replicas": 4}))
    workers = [n for n in kube.of("KVMNode") if n["spec"]["role"] == "worker"]
    assert sorted(n["spec"]["index"] for n in workers) == [0, 1, 2, 3]
    newest = max(workers, key=lambda n: n["metadata"]["creationTimestamp"])
    run_all(kube, cluster_body(workers={"replicas": 3}))
    assert f"KVMNode/{newest['metadata']['name']}" in kube.deleted
    assert len([n for n in kube.of("KVMNode") if n["spec"]["role"] == "worker"]) == 3


def test_upgrade_adds_a_node_and_keeps_old_versions() -> None:
    kube = FakeKube()
    run_initialized(kube, cluster_body(kubernetesVersion="1.33.0"))
    mark_ready(kube, "KVMNode")
    run = run_all(kube, cluster_body(kubernetesVersion="1.34.2"))
    versions = sorted(
        (n["spec"]["role"], n["spec"]["kubernetesVersion"]) for n in kube.of("KVMNode")
    )
    # Control plane first, one surge node; workers untouched.
    assert versions == [
        ("controlplane", "1.33.0"),
        ("controlplane", "1.34.2"),
        ("worker", "1.33.0"),
        ("worker", "1.33.0"),
    ]
    assert run.observed.plans[1].waiting is not None


def test_report_after_a_failed_step_leaves_ready_to_the_kit() -> None:
    kube = FakeKube()
    run = run_all(kube, cluster_body())
    failed = Outcome(failed_step="nodes")
    failed.verdict = object()  # type: ignore[assignment]
    report = reconcile.report(run.spec, run, failed)
    assert all(o.type != "Ready" for o in report.observations)
    assert reconcile.report(run.spec, run, Outcome()).observations[0].type == "Ready"


def test_pause_is_propagated_and_lifted() -> None:
    kube = FakeKube()
    run_initialized(kube, cluster_body())
    spec = parse(cluster_body())
    changed = reconcile.propagate_pause(kube.as_kube(), spec.ref, True)
    assert len(changed) == len(catalogue.COMPONENTS) + 1 + 1 + 3
    annotations = [(o["metadata"].get("annotations") or {}) for o in kube.of("KVMNode")]
    assert all(a.get("g8s.io/paused") == "true" for a in annotations)
    assert reconcile.propagate_pause(kube.as_kube(), spec.ref, True) == []


def test_pause_reads_the_kept_children_and_lists_again_a_kind_it_changed() -> None:
    kube = FakeKube()
    run_initialized(kube, cluster_body())
    spec = parse(cluster_body())
    kept = Listed(LABEL)
    kube.listed.clear()
    assert reconcile.propagate_pause(kube.as_kube(), spec.ref, False, kept) == []
    assert sorted(kube.listed) == ["Certificate", "ClusterNetwork", "EtcdCluster", "KVMNode"]
    kube.listed.clear()
    # Nothing to change: nothing asked.
    assert reconcile.propagate_pause(kube.as_kube(), spec.ref, False, kept) == []
    assert kube.listed == []
    # A change is written, and the kinds it touched are listed at the next look.
    assert reconcile.propagate_pause(kube.as_kube(), spec.ref, True, kept)
    assert kube.listed == []
    assert reconcile.propagate_pause(kube.as_kube(), spec.ref, True, kept) == []
    assert sorted(kube.listed) == ["Certificate", "ClusterNetwork", "EtcdCluster", "KVMNode"]


def delete_every_stage(kube: FakeKube) -> list[tuple[str | None, tuple[str, ...]]]:
    """``delete_next`` until nothing is left: each look's stage and the kinds it listed."""
    ref = parse(cluster_body()).ref
    looks = []
    while True:
        kube.listed.clear()
        stage = reconcile.delete_next(kube.as_kube(), ref).name
        looks.append((stage, tuple(kube.listed)))
        if stage is None:
            return looks


def test_deletion_goes_stage_by_stage() -> None:
    kube = FakeKube()
    run_initialized(kube, cluster_body())
    stages = [stage for stage, _ in delete_every_stage(kube)]
    assert stages == ["workers", "controlplane", "etcd", "network", "certificates", None]
    assert kube.of("Secret") == []
    assert kube.of("Service") == []
    assert [o for o in kube.objects.values() if o["kind"] != "Cluster"] == []


def test_a_look_at_a_deletion_lists_no_kind_past_the_current_stage() -> None:
    kube = FakeKube()
    run_initialized(kube, cluster_body())
    assert delete_every_stage(kube) == [
        ("workers", ("KVMNode",)),
        ("controlplane", ("KVMNode",)),
        ("etcd", ("KVMNode", "EtcdCluster")),
        ("network", ("KVMNode", "EtcdCluster", "ClusterNetwork")),
        ("certificates", ("KVMNode", "EtcdCluster", "ClusterNetwork", "Certificate")),
        (None, ("KVMNode", "EtcdCluster", "ClusterNetwork", "Certificate")),
    ]


def test_the_deletion_kinds_follow_the_deletion_order() -> None:
    stages = {
        "KVMNode": (policies.WORKERS, policies.CONTROL_PLANE),
        "EtcdCluster": (policies.ETCD,),
        "ClusterNetwork": (policies.NETWORK,),
        "Certificate": (policies.CERTIFICATES,),
    }
    order = [s for kind in reconcile.DELETION_KINDS for s in stages[kind.kind]]
    assert tuple(order) == policies.DELETION_ORDER
    assert {k.kind for k in reconcile.DELETION_KINDS} == {k.kind for k in reconcile.CHILD_KINDS}


def test_children_of_another_cluster_uid_are_ignored() -> None:
    kube = FakeKube()
    run_all(kube, cluster_body())
    stranger = cluster_body()
    stranger["metadata"]["uid"] = "other"
    found = reconcile.list_children(kube.as_kube(), parse(stranger).ref)
    assert all(items == [] for items in found.values())


def test_child_token_changes_with_readiness_only() -> None:
    body: dict[str, Any] = {
        "kind": "KVMNode",
        "metadata": {"name": "n", "generation": 1},
        "status": ready("False"),
    }
    first = reconcile.child_token(body)
    body["status"]["conditions"][0]["message"] = "other words"
    assert reconcile.child_token(body) == first
    body["status"] = ready("True")
    assert reconcile.child_token(body) != first


def test_steps_are_sync_so_the_kit_runs_them_in_a_thread() -> None:
    # The Kubernetes client blocks: no step may be a coroutine running it on the loop.
    assert all(not asyncio.iscoroutinefunction(step.run) for step in reconcile.STEPS)
    assert isinstance(reconcile.STEPS[0], Step)


def test_a_child_name_another_cluster_holds_is_reported_not_taken() -> None:
    kube = FakeKube()
    run_all(kube, cluster_body())
    held = kube.objects[("Certificate", "ns", "c1-apiserver-etcd-client")]
    # The CRD refuses the name "c1-apiserver"; this is what the operator does
    # should such a clash get through.
    other = cluster_body()
    other["metadata"].update(name="c1-apiserver", uid="uid-other")
    other["spec"]["baseDomain"] = "other.g8s.local"
    run = Run(parse(other), other, kube.as_kube(), new_key=lambda: b"k" * 32)
    with pytest.raises(InvalidSpec, match="Certificate c1-apiserver-etcd-client") as raised:
        reconcile.apply_certificates(run)
    assert raised.value.reason == "NameTaken"
    assert "belongs to Cluster c1" in str(raised.value)
    assert kube.objects[("Certificate", "ns", "c1-apiserver-etcd-client")] == held


def test_an_unhealthy_worker_is_replaced_in_the_same_pass() -> None:
    kube = FakeKube()
    run_initialized(kube, cluster_body())
    mark_ready(kube, "KVMNode")
    workers = sorted(
        (n for n in kube.of("KVMNode") if n["spec"]["role"] == "worker"),
        key=lambda n: n["metadata"]["name"],
    )
    sick = workers[0]
    sick["status"] = {
        **ready("False", reason="GuestNodeNotReady"),
        "firstReadyTime": "2026-01-01T00:01:00Z",
    }
    sick["status"]["conditions"][0]["lastTransitionTime"] = "2026-01-01T00:02:00Z"
    # Not Ready for 3 minutes of a 5-minute timeout: waited for.
    waiting = run_all(kube, cluster_body())
    assert waiting.observed.health is not None
    assert waiting.observed.health.reason == "NodesNotReady"
    assert f"KVMNode/{sick['metadata']['name']}" not in kube.deleted
    waited = reconcile.report(waiting.spec, waiting, Outcome())
    assert waited.fields["nextHealthCheckTime"] == "2026-01-01T00:07:00Z"
    # 6 minutes: replaced, and its replacement made at once.
    later = datetime(2026, 1, 1, 0, 8, 1, tzinfo=UTC)
    run = run_all(kube, cluster_body(), now=later)
    assert run.observed.health is not None
    assert run.observed.health.replace == (sick["metadata"]["name"],)
    assert f"KVMNode/{sick['metadata']['name']}" in kube.deleted
    now_workers = [n for n in kube.of("KVMNode") if n["spec"]["role"] == "worker"]
    assert len(now_workers) == 2
    assert sick["metadata"]["name"] not in {n["metadata"]["name"] for n in now_workers}
    report = reconcile.report(run.spec, run, Outcome())
    health = [o for o in report.observations if o.type == "NodesHealthy"]
    assert [(o.status, o.reason) for o in health] == [("False", "Remediating")]
    assert report.fields["nextHealthCheckTime"] is None
    # Not part of Ready: Ready names the missing worker instead.
    assert report.observations[0].reason != "Remediating"


def restored_body() -> dict[str, Any]:
    snapshot = {"location": "ns/old/b.db", "encryptionKeysSecret": "c1-restore-keys"}
    return cluster_body(etcd={"restoreFrom": snapshot})


def keys_secret(data: dict[str, str], **metadata: Any) -> dict[str, Any]:
    """The Secret restored_body() names, holding ``data``."""
    meta = {"name": "c1-restore-keys", "namespace": "ns", **metadata}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "data": data}


def test_a_restored_cluster_waits_for_the_old_keys_and_starts_with_them() -> None:
    kube = FakeKube()
    body = restored_body()
    run = Run(parse(body), body, kube.as_kube(), new_key=lambda: b"n" * 32, now=NOW)
    with pytest.raises(Retry) as waiting:
        reconcile.ensure_encryption(run)
    assert waiting.value.reason == reconcile.REASON_KEYS_MISSING
    assert "c1-restore-keys not found" in str(waiting.value)
    assert kube.of("Secret") == []

    old = (encryption.Key("key1", _b64(b"a" * 32)), encryption.Key("key2", _b64(b"b" * 32)))
    kept = {k: v for k, v in encryption.data_of(old).items() if v is not None}
    kube.add(keys_secret(kept, labels={LABEL: "c1"}))
    reconcile.ensure_encryption(run)
    created = kube.get(ObjectRef("v1", "Secret", "c1-encryption", "ns"))
    assert created is not None
    # The old keys, under their names: the backup's Secrets name them.
    assert encryption.keys_of(created["data"]) == old
    assert created["metadata"]["ownerReferences"][0]["uid"] == UID
    # The next pass takes the copy over, so it goes with this Cluster.
    reconcile.ensure_encryption(run)
    copy = kube.get(ObjectRef("v1", "Secret", "c1-restore-keys", "ns"))
    assert copy is not None
    assert copy["metadata"]["ownerReferences"][0]["uid"] == UID


def test_another_clusters_secret_named_for_the_keys_is_used_but_not_taken_over() -> None:
    kube = FakeKube()
    body = restored_body()
    foreign = {"kind": "Cluster", "name": "old", "uid": "other", "apiVersion": "g8s.io/v1alpha1"}
    kube.add(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "c1-restore-keys",
                "namespace": "ns",
                "ownerReferences": [foreign],
            },
            "data": {"key": _b64(b"a" * 32)},
        }
    )
    run = Run(parse(body), body, kube.as_kube(), new_key=lambda: b"n" * 32, now=NOW)
    reconcile.ensure_encryption(run)
    reconcile.ensure_encryption(run)
    copy = kube.get(ObjectRef("v1", "Secret", "c1-restore-keys", "ns"))
    assert copy is not None
    assert copy["metadata"]["ownerReferences"] == [foreign]
    created = kube.get(ObjectRef("v1", "Secret", "c1-encryption", "ns"))
    assert created is not None
    assert encryption.keys_of(created["data"]) == (encryption.Key("key1", _b64(b"a" * 32)),)


def test_a_keys_secret_without_keys_is_refused_with_the_field() -> None:
    kube = FakeKube()
    body = restored_body()
    kube.add(keys_secret({"other": "eA=="}))
    run = Run(parse(body), body, kube.as_kube(), new_key=lambda: b"n" * 32, now=NOW)
    with pytest.raises(InvalidSpec) as refused:
        reconcile.ensure_encryption(run)
    assert refused.value.field == "spec.etcd.restoreFrom.encryptionKeysSecret"
    assert kube.get(ObjectRef("v1", "Secret", "c1-encryption", "ns")) is None


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
