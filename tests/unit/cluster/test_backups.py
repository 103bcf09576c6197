"""operators.cluster.backups: `g8s backup` asks once, shows why it waits, and prints the backup."""

import copy
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from operators.cluster import backups
from shared.api.labels import BACKUP_NOW
from shared.kube import ObjectRef

TAKEN = {
    "location": "ns1/c1/20261204T120000Z-manual.db",
    "checksum": "ab" * 32,
    "size": 4096,
    "revision": 42,
    "time": "2026-12-04T12:00:00Z",
}


def condition(status: str, reason: str, message: str) -> dict[str, Any]:
    return {"type": "BackupReady", "status": status, "reason": reason, "message": message}


class EtcdClusters:
    """One EtcdCluster; ``answers`` are the statuses the etcd operator writes, one per look."""

    def __init__(self, answers: list[dict[str, Any]]) -> None:
        self.body: dict[str, Any] | None = {"metadata": {"name": "c1", "annotations": {}}}
        self.answers = answers
        self.patches: list[Mapping[str, Any]] = []

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        if self.body is not None and self.patches and self.answers:
            status = self.answers.pop(0)
            value = self.body["metadata"]["annotations"][BACKUP_NOW]
            if status.pop("request", False):
                status["lastBackupRequest"] = value
            self.body["status"] = status
        return copy.deepcopy(self.body)

    def patch(self, ref: ObjectRef, body: Mapping[str, Any]) -> dict[str, Any]:
        assert self.body is not None
        self.patches.append(body)
        self.body["metadata"]["annotations"].update(body["metadata"]["annotations"])
        return copy.deepcopy(self.body)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def run(kube: EtcdClusters, timeout: float = 60.0) -> tuple[Mapping[str, Any], list[str]]:
    said: list[str] = []
    clock = Clock()
    taken = backups.backup(
        kube, "c1", "ns1", timeout=timeout, say=said.append, clock=clock, sleep=clock.sleep
    )
    return taken, said


def test_the_backup_is_the_one_asked_for_not_an_earlier_one() -> None:
    earlier = {"lastBackupRequest": "before", "lastBackup": {**TAKEN, "location": "old.db"}}
    waiting = condition("False", "BackupFailed", "no healthy member to take a snapshot from")
    kube = EtcdClusters(
        [earlier, {**earlier, "conditions": [waiting]}, {"request": True, "lastBackup": TAKEN}]
    )
    taken, said = run(kube)
    assert taken == TAKEN
    assert len(kube.patches) == 1
    assert said[0].startswith("asked for a backup of ns1/c1")
    # Why it waited was shown, once.
    assert said.count(f"BackupReady=False BackupFailed: {waiting['message']}") == 1


def test_a_backup_that_cannot_be_taken_says_why_when_the_wait_ends() -> None:
    failing = {"conditions": [condition("False", "BackupFailed", "no backup store configured")]}
    kube = EtcdClusters([copy.deepcopy(failing) for _ in range(100)])
    with pytest.raises(TimeoutError, match=r"no backup within 10 s; last: .*no backup store"):
        run(kube, timeout=10.0)


def test_a_missing_etcd_cluster_is_named() -> None:
    kube = EtcdClusters([])
    kube.body = None
    with pytest.raises(LookupError, match="EtcdCluster ns1/c1 not found"):
        run(kube)


def test_each_request_value_is_new_and_the_summary_is_a_restore_source() -> None:
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    assert backups.request_value(now, "abc") == "20261204T120000Z-abc"
    lines = backups.summary(TAKEN)
    assert f"        location: {TAKEN['location']}" in lines
    assert f"        checksum: {TAKEN['checksum']}" in lines
