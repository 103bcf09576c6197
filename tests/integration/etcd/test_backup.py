"""Backup, restore and defragmentation against a real 3-member etcd cluster on loopback.

Covers: a snapshot through the v3 API into the filesystem store; the
cluster wiped and restored by running the restore init container's own
command (taken from the built StatefulSet, with its environment, only the
mount paths and the pod's peer URL pointed at this machine) -> every key
back, and the same command a second time leaves the data alone; a snapshot
whose checksum does not match is refused; retention keeps exactly ``keep``
backups, the newest; defragmentation one member at a time, the leader
last, shrinks every member's database; the reconciliation's own backup
step honours ``g8s.io/backup-now`` once per value and its defragment step
runs when due, the leader last, both reported in the status.
"""

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from operators.etcd import policies, reconcile, status
from operators.etcd.context import EtcdSettings
from operators.etcd.model import parse
from shared.backup import FilesystemStore, backup_name
from shared.etcd import EtcdClient
from shared.kube import Kube
from shared.steps import Outcome
from tests.integration.etcd.conftest import NAMES, observe
from tests.integration.etcd.driver import (
    DIRECTORY,
    restore_container,
    restore_overrides,
    run_restore,
)
from tests.integration.etcd.localetcd import LocalEtcd

KEYS = {f"/registry/pods/p{i:04d}".encode(): os.urandom(64) for i in range(500)}


async def _fill(client: EtcdClient) -> None:
    for key, value in KEYS.items():
        await client.put(key, value)


def _backup(store: FilesystemStore, cluster: LocalEtcd, name: str, keep: int = 7) -> dict[str, Any]:
    endpoint = cluster.members["m1"].endpoint
    return reconcile.take_backup(
        store, DIRECTORY, name=name, endpoint=endpoint, tls=None, keep=keep, timeout=10
    )


def test_snapshot_wipe_restore_with_the_init_container_command(
    local_etcd: LocalEtcd, tmp_path: Path
) -> None:
    store = FilesystemStore(tmp_path / "backups")

    async def fill() -> None:
        async with EtcdClient(local_etcd.endpoints) as client:
            await _fill(client)

    asyncio.run(fill())
    record = _backup(store, local_etcd, backup_name(datetime.now(UTC)))
    assert record["size"] > 500 * 64
    assert record["revision"] >= len(KEYS)
    assert record["location"].startswith(f"{DIRECTORY}/")

    for name in NAMES:
        local_etcd.wipe(name)
        assert not local_etcd.members[name].data_dir.exists()

    container = restore_container(record)
    overrides = restore_overrides(local_etcd, store, record, tmp_path)
    for name in NAMES:
        result = run_restore(container, name, local_etcd, overrides[name])
        assert result.returncode == 0, result.stderr
        assert (local_etcd.members[name].data_dir / "member" / "snap").is_dir()
        again = run_restore(container, name, local_etcd, overrides[name])
        assert again.returncode == 0, again.stderr
        assert "not restoring over it" in again.stdout

    for name in NAMES:
        local_etcd.start_existing(name)
    for name in NAMES:
        local_etcd.wait_healthy(name)

    async def check() -> None:
        for name in NAMES:
            async with EtcdClient([local_etcd.members[name].endpoint]) as one:
                assert await one.get_prefix(b"/registry/") == KEYS
                await one.put(b"/after-restore", name.encode())

    asyncio.run(check())


def test_restore_refuses_a_snapshot_with_another_checksum(
    local_etcd: LocalEtcd, tmp_path: Path
) -> None:
    store = FilesystemStore(tmp_path / "backups")
    record = _backup(store, local_etcd, backup_name(datetime.now(UTC)))
    container = restore_container({**record, "checksum": "0" * 64})
    data_dir = tmp_path / "fresh" / "data"
    overrides = restore_overrides(local_etcd, store, record, tmp_path)["m0"]
    result = run_restore(container, "m0", local_etcd, {**overrides, "ETCD_DATA_DIR": str(data_dir)})
    assert result.returncode != 0
    assert "FAILED" in result.stdout + result.stderr
    assert not data_dir.exists()


def test_retention_keeps_exactly_keep(local_etcd: LocalEtcd, tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path / "backups")
    start = datetime(2026, 5, 1, tzinfo=UTC)
    names = [backup_name(start + timedelta(hours=6 * i), "scheduled") for i in range(6)]
    for name in names:
        _backup(store, local_etcd, name, keep=4)
    kept = store.list(DIRECTORY)
    assert [b.name for b in kept] == names[-4:]
    on_disk = sorted(p.name for p in (tmp_path / "backups" / "ns" / "demo").glob("*.db"))
    assert on_disk == [f"{n}.db" for n in names[-4:]]


def test_defragmentation_one_at_a_time_leader_last(local_etcd: LocalEtcd) -> None:
    async def run() -> None:
        async with EtcdClient(local_etcd.endpoints, timeout=10) as client:
            blob = os.urandom(4096)
            for i in range(1500):
                await client.put(f"/bulk/{i:05d}".encode(), blob)
            revision = await client.put(b"/bulk-done", b"1")
            for i in range(1500):
                await client.put(f"/bulk/{i:05d}".encode(), b"")
            revision = await client.put(b"/bulk-done", b"2")
            await client.compact(revision)
            before = {n: await client.status(m.endpoint) for n, m in local_etcd.members.items()}
            probe = await observe(local_etcd, client)
            assert probe.members is not None
            assert probe.endpoints is not None
            order = policies.defragment_order(probe.members)
            assert order[-1] == probe.leader
            assert sorted(order) == NAMES
            for name in order:
                # Members not being defragmented keep serving.
                others = [n for n in order if n != name]
                await client.defragment(probe.endpoints[name])
                for other in others:
                    assert (await client.status(probe.endpoints[other])).leader_id
            after = {n: await client.status(m.endpoint) for n, m in local_etcd.members.items()}
        for name in NAMES:
            assert after[name].db_size < before[name].db_size / 2, (name, before, after)

    asyncio.run(run())


def test_backup_now_and_defragment_steps(local_etcd: LocalEtcd, tmp_path: Path) -> None:
    """The reconciliation's own backup and defragment steps, on the members' real answers."""
    raw: dict[str, Any] = {
        "metadata": {
            "name": "demo",
            "namespace": "ns",
            "uid": "0123456789abcdef",
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "annotations": {"g8s.io/backup-now": "before-upgrade"},
        },
        "spec": {
            "replicas": 3,
            "tls": {
                "serverSecretName": "demo-etcd-server",
                "peerSecretName": "demo-etcd-peer",
                "clientSecretName": "demo-etcd-client",
            },
            "backup": {"schedule": "0 0 1 1 *", "keep": 2},
            "defragmentation": {"schedule": "@daily"},
        },
        "status": {"bootstrapped": True, "lastBackup": {"time": datetime.now(UTC).isoformat()}},
    }
    store = FilesystemStore(tmp_path / "backups")
    run = reconcile.Run(parse(raw), raw, cast(Kube, None), store, EtcdSettings(), datetime.now(UTC))

    async def look() -> None:
        async with EtcdClient(local_etcd.endpoints) as client:
            run.probe = await observe(local_etcd, client)

    asyncio.run(look())
    # The pods' side, which the kube adapter would read.
    run.statefulset = {"spec": {"replicas": 3}, "status": {"readyReplicas": 3}}
    reconcile.backup(run)
    assert run.backup_error == ""
    assert run.backup is not None
    assert run.backup_request_handled == "before-upgrade"
    assert run.backup["location"].endswith("-manual.db")
    assert store.get(run.backup["location"]) is not None
    asyncio.run(reconcile.defragment(run))
    assert run.defrag_error == ""
    assert run.probe is not None
    assert run.defragmented[-1] == run.probe.leader
    assert sorted(run.defragmented) == NAMES
    report = status.report(run.spec, run, Outcome())
    assert report.fields["lastBackupRequest"] == "before-upgrade"
    stored = store.get(run.backup["location"])
    assert stored is not None
    assert report.fields["lastBackup"]["checksum"] == stored.sha256
    assert "lastDefragmentationTime" in report.fields
    backup_ready = next(o for o in report.observations if o.type == "BackupReady")
    assert (backup_ready.status, backup_ready.reason) == ("True", "BackupSucceeded")
    members_healthy = next(o for o in report.observations if o.type == "MembersHealthy")
    assert (members_healthy.status, members_healthy.reason) == ("True", "MembersHealthy")

    # The same annotation value again: no second backup.
    raw["status"] = {**raw["status"], **report.fields}
    again = reconcile.Run(
        parse(raw), raw, cast(Kube, None), store, EtcdSettings(), datetime.now(UTC)
    )
    again.probe = run.probe
    reconcile.backup(again)
    assert again.backup is None
    assert len(store.list("ns/demo")) == 1
