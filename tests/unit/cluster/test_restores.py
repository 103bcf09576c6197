"""`g8s restore`: the new Cluster is the old one's spec started from a backup."""

from typing import Any

import pytest

from operators.cluster import restores
from shared.kube import ObjectRef

OLD: dict[str, Any] = {
    "apiVersion": "g8s.io/v1alpha1",
    "kind": "Cluster",
    "metadata": {
        "name": "demo",
        "namespace": "team",
        "uid": "u1",
        "resourceVersion": "7",
        "labels": {"team": "a"},
        "annotations": {
            "g8s.io/children": "x",
            "kopf.zalando.org/last-handled-configuration": "{}",
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
            "owner": "platform",
        },
    },
    "spec": {"baseDomain": "demo.local", "paused": True, "etcd": {"replicas": 3}},
    "status": {"phase": "Provisioned"},
}


def test_the_spec_is_kept_and_the_backup_added() -> None:
    new = restores.restored(OLD, location="team/demo/b.db", checksum="ab" * 32, name="demo2")
    assert new["metadata"] == {
        "name": "demo2",
        "namespace": "team",
        "labels": {"team": "a"},
        "annotations": {"owner": "platform"},
    }
    assert new["spec"] == {
        "baseDomain": "demo.local",
        "etcd": {
            "replicas": 3,
            "restoreFrom": {"location": "team/demo/b.db", "checksum": "ab" * 32},
        },
    }
    assert "status" not in new
    # The old object is not changed.
    assert OLD["spec"]["paused"] is True
    assert "restoreFrom" not in OLD["spec"]["etcd"]


def test_without_a_new_name_it_keeps_the_old_one() -> None:
    assert restores.restored(OLD, location="l", checksum="")["metadata"]["name"] == "demo"


class Fake:
    def __init__(self, objects: dict[str, dict[str, Any]]) -> None:
        self.objects = objects
        self.created: list[dict[str, Any]] = []

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        return self.objects.get(ref.kind)

    def create(self, body: Any) -> dict[str, Any]:
        self.created.append(dict(body))
        return dict(body)


def test_the_latest_backup_is_the_default_and_created_only_with_a_name() -> None:
    etcd = {"status": {"lastBackup": {"location": "team/demo/t.db", "checksum": "cd" * 32}}}
    kube = Fake({"Cluster": OLD, "EtcdCluster": etcd})
    printed = restores.restore(kube, "demo", "team")
    assert printed["spec"]["etcd"]["restoreFrom"] == {
        "location": "team/demo/t.db",
        "checksum": "cd" * 32,
    }
    assert kube.created == []
    restores.restore(kube, "demo", "team", location="team/demo/old.db", new_name="demo2")
    assert kube.created[0]["spec"]["etcd"]["restoreFrom"] == {"location": "team/demo/old.db"}


def test_no_backup_and_no_cluster_are_named() -> None:
    with pytest.raises(LookupError, match="no backup recorded yet"):
        restores.restore(Fake({"Cluster": OLD, "EtcdCluster": {}}), "demo", "team")
    with pytest.raises(LookupError, match="Cluster team/demo not found"):
        restores.restore(Fake({}), "demo", "team")
