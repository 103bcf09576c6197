"""The reconciliation's steps and status over an in-memory Kubernetes stand-in (no servers).

Member probing is off here (the local environment's mode) or given as an
observed ``Probe``; what runs against real etcd is in tests/integration/etcd.
Covers: the objects applied and their ownership, the StatefulSet size, the
members ConfigMap before and after bootstrap, a restore whose snapshot is
missing, backups without a store, the conditions and the phase, and the
whole kit reconcile writing a status patch.
"""

import asyncio
import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

import kopf
import pytest

from operators.etcd import handlers, membership, reconcile, status
from operators.etcd.children import statefulset
from operators.etcd.context import EtcdContext, EtcdSettings
from operators.etcd.model import parse
from operators.etcd.policies import MemberView
from shared.api import labels
from shared.backup import FilesystemStore
from shared.conditions import get
from shared.errors import Retry, translate
from shared.handling import reconcile as kit_reconcile
from shared.identity import OperatorIdentity
from shared.kube import Kube, ObjectRef
from shared.metrics import OperatorMetrics
from shared.settings import RuntimeSettings
from shared.steps import Outcome
from shared.watched import certificate_secrets
from tests.unit.etcd.spec_fixtures import BODY, body

NOW = datetime(2026, 5, 1, 3, tzinfo=UTC)
OFF = EtcdSettings(probe_members=False)


class FakeKube:
    """Objects by (kind, name); apply stores what it is given."""

    def __init__(self, *objects: dict[str, Any], secrets: bool = True) -> None:
        # The members' TLS Secrets exist unless a test says otherwise.
        tls = [
            {"kind": "Secret", "metadata": {"name": f"demo-etcd-{part}"}}
            for part in ("server", "peer", "client")
            if secrets
        ]
        self.objects = {(o["kind"], o["metadata"]["name"]): o for o in (*tls, *objects)}
        self.applied: list[dict[str, Any]] = []
        self.deleted: list[tuple[str, str]] = []
        self.reads: list[tuple[str, str]] = []

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        self.reads.append((ref.kind, ref.name))
        return self.objects.get((ref.kind, ref.name))

    def read(self, ref: ObjectRef) -> dict[str, Any] | None:
        # What read skips is the adapter's (tests/integration/test_kube_apply.py).
        return self.get(ref)

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.applied.append(obj)
        return obj

    def ensure(self, obj: dict[str, Any]) -> None:
        # What ensure skips is the adapter's (tests/integration/test_kube_apply.py).
        self.apply(obj)

    def delete(self, ref: ObjectRef) -> bool:
        self.deleted.append((ref.kind, ref.name))
        return True


def sts(replicas: int, ready: int) -> dict[str, Any]:
    return {
        "kind": "StatefulSet",
        "metadata": {"name": "demo-etcd"},
        "spec": {"replicas": replicas},
        "status": {"readyReplicas": ready},
    }


def make(
    raw: dict[str, Any] | None = None,
    kube: FakeKube | None = None,
    settings: EtcdSettings = OFF,
    store: FilesystemStore | None = None,
) -> reconcile.Run:
    raw = raw or copy.deepcopy(BODY)
    return reconcile.Run(parse(raw), raw, cast(Kube, kube or FakeKube()), store, settings, NOW)


def applied(run: reconcile.Run) -> dict[str, dict[str, Any]]:
    return {o["kind"]: o for o in cast(FakeKube, run.kube).applied}


def test_new_cluster_applies_every_child_owned_and_labelled() -> None:
    run = make()
    reconcile.observe(run)
    reconcile.apply(run)
    objects = applied(run)
    assert set(objects) == {"ConfigMap", "Service", "PodDisruptionBudget", "StatefulSet"}
    kinds = [o["kind"] for o in cast(FakeKube, run.kube).applied]
    assert kinds.index("ConfigMap") < kinds.index("StatefulSet")
    for obj in cast(FakeKube, run.kube).applied:
        meta = obj["metadata"]
        assert meta["namespace"] == "ns"
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "g8s-etcd"
        assert meta["labels"]["g8s.io/cluster"] == "demo"
        (owner,) = meta["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["controller"]) == ("EtcdCluster", "demo", True)
    assert objects["StatefulSet"]["spec"]["replicas"] == 3
    assert objects["ConfigMap"]["data"]["initial-cluster-state"] == "new"
    assert objects["ConfigMap"]["data"]["initial-cluster"].count("=https://") == 3
    # The members' check and the CA digest share one read of each TLS Secret.
    secrets = [name for kind, name in cast(FakeKube, run.kube).reads if kind == "Secret"]
    assert sorted(secrets) == ["demo-etcd-client", "demo-etcd-peer", "demo-etcd-server"]


def test_kept_tls_secrets_are_read_once_over_two_looks() -> None:
    tls = [
        {
            "kind": "Secret",
            "metadata": {
                "name": f"demo-etcd-{part}",
                "namespace": "ns",
                "labels": {labels.CERTIFICATE: f"etcd-{part}"},
            },
            "data": {"ca.crt": "Q0E=", "tls.crt": "Qw==", "tls.key": "Sw=="},
        }
        for part in ("server", "peer", "client")
    ]
    kube = FakeKube(*tls)
    kept = certificate_secrets(cast(Kube, kube))
    digests = []
    for _ in range(2):
        run = make(kube=kube)
        run.secrets = kept
        reconcile.observe(run)
        reconcile.apply(run)
        digests.append(applied(run)["StatefulSet"]["spec"]["template"]["metadata"]["annotations"])
    secrets = [name for kind, name in kube.reads if kind == "Secret"]
    assert sorted(secrets) == ["demo-etcd-client", "demo-etcd-peer", "demo-etcd-server"]
    # The CA digest, which needs every Secret's ca.crt, is the same from the kept data.
    assert digests[0] == digests[1]
    assert digests[0][statefulset.TRUSTED_CAS_ANNOTATION]


def test_report_while_creating() -> None:
    run = make()
    reconcile.observe(run)
    reconcile.apply(run)
    report = status.report(run.spec, run, Outcome())
    members = next(o for o in report.observations if o.type == "MembersHealthy")
    assert (members.status, members.reason) == ("Unknown", "Creating")
    assert report.phase == "Creating"
    assert "bootstrapped" not in report.fields


def test_probing_off_health_from_the_statefulset_says_so() -> None:
    run = make(kube=FakeKube(sts(3, 3)))
    reconcile.observe(run)
    reconcile.apply(run)
    assert applied(run)["ConfigMap"]["data"]["initial-cluster-state"] == "existing"
    report = status.report(run.spec, run, Outcome())
    by_type = {o.type: o for o in report.observations}
    assert (by_type["MembersHealthy"].status, by_type["MembersHealthy"].reason) == (
        "True",
        "StatefulSetReady",
    )
    assert "probing off" in by_type["MembersHealthy"].message
    assert (by_type["Ready"].status, by_type["Ready"].reason) == ("True", "MembersReady")
    assert "StatefulSet readiness" in by_type["Ready"].message
    assert report.phase == "Running"
    assert report.fields["bootstrapped"] is True
    assert report.fields["readyReplicas"] == 3


def test_probing_off_pods_not_ready() -> None:
    run = make(kube=FakeKube(sts(3, 1)))
    reconcile.observe(run)
    report = status.report(run.spec, run, Outcome())
    members = next(o for o in report.observations if o.type == "MembersHealthy")
    assert (members.status, members.reason) == ("False", "PodsNotReady")
    assert "1/3 pods ready" in members.message


def _probe(*members: MemberView, leader: str = "demo-etcd-0") -> membership.Probe:
    return membership.Probe(
        members=members,
        leader=leader,
        problems={m.name: "connection refused" for m in members if not m.healthy},
        endpoints={m.name: f"{m.name}:2379" for m in members},
    )


def test_probed_unhealthy_member_and_lost_quorum() -> None:
    run = make(kube=FakeKube(sts(3, 2)), settings=EtcdSettings())
    run.statefulset = sts(3, 2)
    run.probe = _probe(
        MemberView("demo-etcd-0", 1, False, True, True),
        MemberView("demo-etcd-1", 2, False, True),
        MemberView("demo-etcd-2", 3, False, False, unhealthy_since=NOW),
    )
    observed = status.members_healthy(run)
    assert (observed.status, observed.reason) == ("False", "MemberUnhealthy")
    assert "demo-etcd-2: connection refused" in observed.message
    assert "etcd v3 API: 2/3" in observed.message
    fields = status.report(run.spec, run, Outcome()).fields
    assert fields["members"][2] == {
        "name": "demo-etcd-2",
        "id": "3",
        "leader": False,
        "learner": False,
        "healthy": False,
        "unhealthySince": "2026-05-01T03:00:00Z",
    }
    run.probe = _probe(
        MemberView("demo-etcd-0", 1, False, True),
        MemberView("demo-etcd-1", 2, False, False, unhealthy_since=NOW),
        MemberView("demo-etcd-2", 3, False, False, unhealthy_since=NOW),
    )
    assert status.members_healthy(run).reason == "QuorumLost"


def test_scaling_is_not_ready() -> None:
    run = make(raw=body(replicas=5), settings=EtcdSettings())
    run.statefulset = sts(4, 4)
    run.probe = _probe(*(MemberView(f"demo-etcd-{i}", i, i == 3, True) for i in range(4)))
    report = status.report(run.spec, run, Outcome())
    ready = next(o for o in report.observations if o.type == "Ready")
    assert (ready.status, ready.reason) == ("False", "Scaling")
    assert report.phase == "Scaling"


def test_unknown_membership_keeps_the_statefulset_and_configmap() -> None:
    raw = copy.deepcopy(BODY)
    raw["status"] = {"bootstrapped": True}
    run = make(raw=raw, kube=FakeKube(sts(5, 0)), settings=EtcdSettings())
    run.statefulset = sts(5, 0)
    run.probe = membership.Probe(members=None, leader="", error="UNAVAILABLE")
    reconcile.apply(run)
    objects = applied(run)
    assert "ConfigMap" not in objects
    assert objects["StatefulSet"]["spec"]["replicas"] == 5
    observed = status.members_healthy(run)
    assert (observed.status, observed.reason) == ("False", "EtcdUnreachable")


def test_restore_waits_for_its_snapshot(tmp_path: Path) -> None:
    raw = body(restore={"location": "ns/old/20260501T000000Z.db"})
    run = make(raw=raw, store=FilesystemStore(tmp_path))
    reconcile.observe(run)
    reconcile.apply(run)
    assert "StatefulSet" not in applied(run)
    assert run.requeue is not None
    assert run.requeue.reason == "BackupNotFound"
    report = status.report(run.spec, run, Outcome(failed_step="requeue"))
    ready = next(o for o in report.observations if o.type == "Ready")
    assert (ready.status, ready.reason) == ("False", "RestoreSourceMissing")
    assert report.phase == "Restoring"


def test_restore_from_a_stored_snapshot(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path)

    def fill(out: BinaryIO) -> None:
        out.write(b"db")

    stored = store.write("ns/old", "20260501T000000Z", fill)
    run = make(raw=body(restore={"location": stored.location}), store=store)
    reconcile.observe(run)
    reconcile.apply(run)
    init = applied(run)["StatefulSet"]["spec"]["template"]["spec"]["initContainers"][0]
    env = {e["name"]: e.get("value") for e in init["env"]}
    assert env["SNAPSHOT_FILE"] == "/backups/ns/old/20260501T000000Z.db"
    assert env["SNAPSHOT_SHA256"] == stored.sha256


def _fill(out: BinaryIO) -> None:
    out.write(b"db")


def test_restore_refuses_a_checksum_mismatch(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path)
    stored = store.write("ns/old", "20260501T000000Z", _fill)
    run = make(raw=body(restore={"location": stored.location, "checksum": "0" * 64}), store=store)
    reconcile.apply(run)
    assert "StatefulSet" not in applied(run)
    assert "spec.restore.checksum says" in run.restore_error


def test_backup_due_without_a_store_is_reported() -> None:
    run = make(raw=body(backup={"schedule": "0 */2 * * *"}))
    reconcile.backup(run)
    assert run.backup_error == "no backup store configured in the operator"
    observed = status.backup_ready(run.spec, run)
    assert (observed.status, observed.reason) == ("False", "BackupFailed")


def test_backup_with_probing_off_says_why(tmp_path: Path) -> None:
    run = make(raw=body(backup={"schedule": "0 */2 * * *"}), store=FilesystemStore(tmp_path))
    reconcile.backup(run)
    assert run.backup_error == "member probing is off: snapshots need the etcd v3 API"
    assert run.requeue is None
    assert list(tmp_path.iterdir()) == []


def test_backup_not_due_reports_the_next_one() -> None:
    run = make(raw=body(backup={"schedule": "0 6 * * *"}), store=FilesystemStore(Path("/nowhere")))
    reconcile.backup(run)
    assert run.backup_error == ""
    observed = status.backup_ready(run.spec, run)
    assert (observed.status, observed.reason) == ("True", "NoBackupYet")
    assert "2026-05-01T06:00:00Z" in observed.message


def test_whole_reconcile_writes_status_through_the_kit() -> None:
    kube = FakeKube(sts(3, 3))
    ctx = EtcdContext(
        identity=OperatorIdentity("etcd"),
        runtime=RuntimeSettings(),
        metrics=OperatorMetrics("etcd"),
        clock=lambda: NOW,
        settings=OFF,
        kube=cast(Kube, kube),
    )
    patch: dict[str, Any] = {}
    asyncio.run(
        kit_reconcile(
            handlers.reconciler(ctx), body=copy.deepcopy(BODY), patch=patch, ctx=ctx, retry=0
        )
    )
    conditions = patch["status"]["conditions"]
    assert conditions[0]["type"] == "Ready"
    assert conditions[0]["status"] == "True"
    assert get(conditions, "MembersHealthy") is not None
    assert get(conditions, "BackupReady") is not None
    assert patch["status"]["observedGeneration"] == 2
    assert patch["status"]["phase"] == "Running"
    assert len(kube.applied) == 5


def test_a_requeue_is_a_temporary_error_for_kopf(tmp_path: Path) -> None:
    ctx = EtcdContext(
        identity=OperatorIdentity("etcd"),
        runtime=RuntimeSettings(),
        metrics=OperatorMetrics("etcd"),
        clock=lambda: NOW,
        settings=OFF,
        kube=cast(Kube, FakeKube()),
        store=FilesystemStore(tmp_path),
    )
    patch: dict[str, Any] = {}
    raw = body(restore={"location": "ns/old/20260501T000000Z.db"})
    with pytest.raises(kopf.TemporaryError):
        asyncio.run(
            kit_reconcile(handlers.reconciler(ctx), body=raw, patch=patch, ctx=ctx, retry=0)
        )
    ready = patch["status"]["conditions"][0]
    assert (ready["type"], ready["reason"]) == ("Ready", "RestoreSourceMissing")


def test_no_members_before_their_tls_secrets_exist() -> None:
    kube = FakeKube(secrets=False)
    run = make(kube=kube)
    with pytest.raises(Retry, match="demo-etcd-server, demo-etcd-peer, demo-etcd-client") as raised:
        reconcile.apply(run)
    assert raised.value.reason == "SecretsMissing"
    assert kube.applied == []
    # Looked for again soon (they usually come within a second), then less often.
    delays = [translate(raised.value, attempt=n, base=5.0, ceiling=60.0).delay for n in range(7)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
