"""`g8s restore`: the new Cluster is the old one's spec started from a backup."""

from typing import Any

import pytest

from operators.cluster import restores
from shared.errors import ApiError
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
            "restoreFrom": {
                "location": "team/demo/b.db",
                "checksum": "ab" * 32,
                "encryptionKeysSecret": "demo2-restore-keys",
            },
        },
    }
    assert "status" not in new
    # The old object is not changed.
    assert OLD["spec"]["paused"] is True
    assert "restoreFrom" not in OLD["spec"]["etcd"]


def test_without_a_new_name_it_keeps_the_old_one() -> None:
    assert restores.restored(OLD, location="l", checksum="")["metadata"]["name"] == "demo"


KEYS = {"metadata": {"name": "demo-encryption"}, "data": {"keys": "W10=", "other": "x"}}


class Fake:
    def __init__(self, objects: dict[str, dict[str, Any]]) -> None:
        self.objects = objects
        self.created: list[dict[str, Any]] = []
        self.patched: list[tuple[str, dict[str, Any]]] = []

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        return self.objects.get(ref.kind)

    def create(self, body: Any) -> dict[str, Any]:
        if any(c["metadata"]["name"] == body["metadata"]["name"] for c in self.created):
            raise ApiError(409, "AlreadyExists", body["metadata"]["name"])
        self.created.append(dict(body))
        return dict(body)

    def patch(self, ref: ObjectRef, body: Any) -> dict[str, Any]:
        self.patched.append((ref.name, dict(body)))
        return dict(body)


def test_the_latest_backup_is_the_default_and_created_only_with_a_name() -> None:
    etcd = {"status": {"lastBackup": {"location": "team/demo/t.db", "checksum": "cd" * 32}}}
    kube = Fake({"Cluster": OLD, "EtcdCluster": etcd, "Secret": KEYS})
    printed = restores.restore(kube, "demo", "team")
    assert printed["spec"]["etcd"]["restoreFrom"] == {
        "location": "team/demo/t.db",
        "checksum": "cd" * 32,
        "encryptionKeysSecret": "demo-restore-keys",
    }
    # Printing made only the copy of the keys, which outlives the old Cluster.
    assert [c["kind"] for c in kube.created] == ["Secret"]
    restores.restore(kube, "demo", "team", location="team/demo/old.db", new_name="demo2")
    assert kube.created[-1]["spec"]["etcd"]["restoreFrom"] == {
        "location": "team/demo/old.db",
        "encryptionKeysSecret": "demo2-restore-keys",
    }


def test_the_old_keys_are_copied_for_the_new_cluster_and_refreshed_when_asked_again() -> None:
    kube = Fake({"Cluster": OLD, "Secret": KEYS})
    restores.restore(kube, "demo", "team", location="l.db")
    copy = kube.created[0]
    assert copy["metadata"] == {
        "name": "demo-restore-keys",
        "namespace": "team",
        "labels": {"g8s.io/cluster": "demo"},
    }
    # Only the key entries, and no owner: it must outlive the old Cluster.
    assert copy["data"] == {"keys": "W10="}
    restores.restore(kube, "demo", "team", location="l.db")
    assert kube.patched == [("demo-restore-keys", {"data": {"key": None, "keys": "W10="}})]


def test_without_the_old_keys_nothing_is_made() -> None:
    kube = Fake({"Cluster": OLD})
    with pytest.raises(LookupError, match="demo-encryption not found"):
        restores.restore(kube, "demo", "team", location="l.db", new_name="demo2")
    assert kube.created == []
    empty = {"metadata": {"name": "demo-encryption"}, "data": {}}
    with pytest.raises(LookupError, match="holds no encryption key"):
        restores.restore(Fake({"Cluster": OLD, "Secret": empty}), "demo", "team", location="l")


def test_no_backup_and_no_cluster_are_named() -> None:
    with pytest.raises(LookupError, match="no backup recorded yet"):
        restores.restore(Fake({"Cluster": OLD, "EtcdCluster": {}}), "demo", "team")
    with pytest.raises(LookupError, match="Cluster team/demo not found"):
        restores.restore(Fake({}), "demo", "team")
