"""The local environment's volume provisioner (tests/volumes.py) against the real API server.

Covered: a Block and a Filesystem claim each get a PersistentVolume pre-bound
to them (claimRef uid, volumeMode, size, label, hostPath under the
environment's state directory, backing file or directory made) and both
become Bound through kube-controller-manager; a claim of a StorageClass the
provisioner was not given stays Pending with no volume; deleting a claim
removes its volume and the backing path.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from tests import volumes
from tests.localenv import LocalEnv, Paths
from tests.operators import wait_for

TIMEOUT = 60.0
T = TypeVar("T")


def claim(name: str, namespace: str, mode: str, size: str, storage_class: str = "") -> str:
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "volumeMode": mode,
        "resources": {"requests": {"storage": size}},
    }
    if storage_class:
        spec["storageClassName"] = storage_class
    body = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    return json.dumps(body)


def get_json(env: LocalEnv, *what: str) -> dict[str, Any]:
    return dict(json.loads(env.kubectl("get", *what, "-o", "json").stdout))


def bound(env: LocalEnv, namespace: str, name: str) -> dict[str, Any] | None:
    obj = get_json(env, "pvc", name, "-n", namespace)
    return obj if obj.get("status", {}).get("phase") == "Bound" else None


def our_volumes(env: LocalEnv) -> list[dict[str, Any]]:
    return list(get_json(env, "pv", "-l", volumes.SELECTOR)["items"])


def claimed_in(env: LocalEnv, namespace: str) -> set[str]:
    """Names of the claims in ``namespace`` that a volume of the provisioner is bound to."""
    refs = [v["spec"]["claimRef"] for v in our_volumes(env)]
    return {r["name"] for r in refs if r["namespace"] == namespace}


def waiting(provisioner: volumes.RunningProvisioner, probe: Callable[[], T | None], what: str) -> T:
    """wait_for, with the provisioner's log in the failure."""
    try:
        return wait_for(probe, timeout=TIMEOUT, what=what)
    except TimeoutError as exc:
        raise TimeoutError(
            f"{exc}\n===== provisioner log =====\n{provisioner.log()[-4000:]}"
        ) from None


def test_claims_bind_and_deleting_a_claim_removes_its_volume(
    local_env: LocalEnv, namespace: str, tmp_path: Path
) -> None:
    root = volumes.volumes_dir(Paths(local_env.name))
    with volumes.running_provisioner(local_env, tmp_path) as provisioner:
        for name, mode, size in (("disk", "Block", "20Gi"), ("data", "Filesystem", "1Gi")):
            local_env.kubectl("apply", "-f", "-", input=claim(name, namespace, mode, size))
        local_env.kubectl(
            "apply", "-f", "-", input=claim("other", namespace, "Filesystem", "1Gi", "fast")
        )

        for name, mode, size in (("disk", "Block", "20Gi"), ("data", "Filesystem", "1Gi")):
            pvc = waiting(provisioner, partial(bound, local_env, namespace, name), f"{name} Bound")
            pv = get_json(local_env, "pv", pvc["spec"]["volumeName"])
            ref = pv["spec"]["claimRef"]
            assert (ref["namespace"], ref["name"], ref["uid"]) == (
                namespace,
                name,
                pvc["metadata"]["uid"],
            )
            assert pv["spec"]["volumeMode"] == mode
            assert pv["spec"]["capacity"]["storage"] == size
            assert pv["metadata"]["labels"][volumes.LABEL] == "true"
            assert pv["status"]["phase"] == "Bound"
            backing = Path(pv["spec"]["hostPath"]["path"])
            assert backing.parent == root
            assert backing.is_file() if mode == "Block" else backing.is_dir()

        other = get_json(local_env, "pvc", "other", "-n", namespace)
        assert other["status"]["phase"] == "Pending"
        assert not other["spec"].get("volumeName")
        assert claimed_in(local_env, namespace) == {"disk", "data"}

        disk = get_json(local_env, "pvc", "disk", "-n", namespace)["spec"]["volumeName"]
        disk_path = Path(get_json(local_env, "pv", disk)["spec"]["hostPath"]["path"])
        local_env.kubectl("delete", "pvc", "disk", "-n", namespace, "--wait=true")
        waiting(
            provisioner,
            lambda: disk not in {v["metadata"]["name"] for v in our_volumes(local_env)},
            f"volume {disk} deleted",
        )
        assert not disk_path.exists()
        assert bound(local_env, namespace, "data") is not None
        local_env.kubectl("delete", "pvc", "data", "other", "-n", namespace, "--wait=true")
        waiting(provisioner, lambda: not claimed_in(local_env, namespace), "every volume deleted")
