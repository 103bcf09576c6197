"""The local volume provisioner's decisions (tests/volumes.py), without a server.

Covered: which claims get a volume (Pending, unbound, not deleting, no class
or a configured one); the volume built for a claim (pre-bound claimRef with
the uid, volumeMode, access modes, size, label, hostPath under the root,
class carried over); which volumes are spent (ours, Released or Failed, not
already being deleted); the backing file or directory made and removed, and
nothing removed outside the root.
"""

from pathlib import Path
from typing import Any

from tests import volumes


def claim(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "n1-disk", "namespace": "ns", "uid": "0a1b-2c3d"},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "volumeMode": "Block",
            "resources": {"requests": {"storage": "20Gi"}},
            **spec,
        },
        "status": {"phase": "Pending"},
    }


def test_only_pending_unbound_claims_without_a_foreign_class() -> None:
    assert volumes.wants_volume(claim(), ())
    assert volumes.wants_volume(claim(storageClassName=""), ())
    assert not volumes.wants_volume(claim(storageClassName="fast"), ())
    assert volumes.wants_volume(claim(storageClassName="fast"), ("fast",))
    assert not volumes.wants_volume(claim(volumeName="pv-1"), ())
    bound = claim()
    bound["status"]["phase"] = "Bound"
    assert not volumes.wants_volume(bound, ())
    deleting = claim()
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert not volumes.wants_volume(deleting, ())


def test_volume_is_pre_bound_to_its_claim(tmp_path: Path) -> None:
    volume = volumes.volume_for(claim(storageClassName="fast"), tmp_path)
    assert volume["metadata"] == {"name": "pvc-0a1b-2c3d", "labels": {volumes.LABEL: "true"}}
    spec = volume["spec"]
    assert spec["claimRef"] == {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "namespace": "ns",
        "name": "n1-disk",
        "uid": "0a1b-2c3d",
    }
    assert spec["volumeMode"] == "Block"
    assert spec["accessModes"] == ["ReadWriteOnce"]
    assert spec["capacity"] == {"storage": "20Gi"}
    assert spec["storageClassName"] == "fast"
    assert spec["persistentVolumeReclaimPolicy"] == "Retain"
    assert spec["hostPath"] == {"path": str(tmp_path / "pvc-0a1b-2c3d")}
    plain = volumes.volume_for(claim(volumeMode=None), tmp_path)["spec"]
    assert plain["volumeMode"] == "Filesystem"
    assert "storageClassName" not in plain


def test_spent_volumes_are_ours_released_or_failed_and_not_deleting() -> None:
    def volume(phase: str, label: str = "true", **meta: Any) -> dict[str, Any]:
        return {"metadata": {"labels": {volumes.LABEL: label}, **meta}, "status": {"phase": phase}}

    assert volumes.is_spent(volume("Released"))
    assert volumes.is_spent(volume("Failed"))
    assert not volumes.is_spent(volume("Bound"))
    assert not volumes.is_spent(volume("Available"))
    assert not volumes.is_spent(volume("Released", label="false"))
    assert not volumes.is_spent(volume("Released", deletionTimestamp="2026-01-01T00:00:00Z"))


def test_backing_made_and_removed_only_under_the_root(tmp_path: Path) -> None:
    block = volumes.volume_for(claim(), tmp_path)
    volumes.make_backing(block)
    path = tmp_path / "pvc-0a1b-2c3d"
    assert path.is_file()
    assert path.stat().st_size == 20 * 2**30
    volumes.remove_backing(block, tmp_path)
    assert not path.exists()
    filesystem = volumes.volume_for(claim(volumeMode="Filesystem"), tmp_path)
    volumes.make_backing(filesystem)
    assert path.is_dir()
    outside = tmp_path / "keep"
    outside.mkdir()
    volumes.remove_backing({"spec": {"hostPath": {"path": str(outside)}}}, tmp_path)
    assert outside.is_dir()
    volumes.remove_backing(filesystem, tmp_path)
    assert not path.exists()
