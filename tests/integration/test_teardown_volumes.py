"""A deleted owner waits for its claim's volume, read by name (real kube-apiserver,
kube-controller-manager and the local provisioner).

Covered: an owner whose claim the provisioner bound sees its claim deleted
and its volume left on the first look; with the provisioner stopped, the
released volume keeps it on the looks after the claim has gone; once the
provisioner, started again, removed the volume, nothing is left. In all
those looks no PersistentVolume was listed (the volume was read by the name
its claim gave), and nothing of the owner is remembered afterwards.
"""

import json
from pathlib import Path
from typing import Any

import pytest

from shared import teardown
from shared.api.labels import CLUSTER
from shared.kube import Kube, ObjectRef, connect
from tests import volumes
from tests.localenv import LocalEnv
from tests.operators import wait_for

TIMEOUT = 60.0
CLAIM = "vm-disk"


class Counted:
    """The real client, with the kinds it listed and read written down."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.listed: list[str] = []
        self.read: list[str] = []

    def list(
        self,
        api_version: str,
        kind: str,
        *,
        namespace: str | None,
        selector: str = "",
        field_selector: str = "",
    ) -> list[dict[str, Any]]:
        self.listed.append(kind)
        return self.kube.list(
            api_version, kind, namespace=namespace, selector=selector, field_selector=field_selector
        )

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        self.read.append(ref.kind)
        return self.kube.get(ref)

    def delete(self, ref: ObjectRef, *, propagation: str = "Background") -> bool:
        return self.kube.delete(ref, propagation=propagation)


def apply(env: LocalEnv, obj: dict[str, Any]) -> dict[str, Any]:
    out = env.kubectl("apply", "--server-side", "-o", "json", "-f", "-", input=json.dumps(obj))
    found: dict[str, Any] = json.loads(out.stdout)
    return found


def bound_volume(env: LocalEnv, namespace: str) -> str | None:
    claim = json.loads(env.kubectl("get", "pvc", CLAIM, "-n", namespace, "-o", "json").stdout)
    if (claim.get("status") or {}).get("phase") != "Bound":
        return None
    return str(claim["spec"]["volumeName"])


def claim_gone(env: LocalEnv, namespace: str) -> bool:
    out = env.kubectl("get", "pvc", CLAIM, "-n", namespace, "--ignore-not-found", "-o", "name")
    return not out.stdout.strip()


def volume_exists(env: LocalEnv, name: str) -> bool:
    out = env.kubectl("get", "pv", name, "--ignore-not-found", "-o", "name")
    return bool(out.stdout.strip())


def test_the_released_volume_is_waited_for_by_name_never_listed(
    local_env: LocalEnv, namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(local_env.kubeconfig))
    client = Counted(Kube(connect(), "g8s-test-teardown"))
    owner = apply(
        local_env,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "owner", "namespace": namespace},
        },
    )
    uid = owner["metadata"]["uid"]
    scope = teardown.Scope(
        namespace,
        "c1",
        uid,
        (("v1", "PersistentVolumeClaim"),),
        claims=lambda claim: claim == CLAIM,
    )
    memory = teardown.Volumes()
    with volumes.running_provisioner(local_env, tmp_path):
        apply(
            local_env,
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {
                    "name": CLAIM,
                    "namespace": namespace,
                    "labels": {CLUSTER: "c1"},
                    "ownerReferences": [
                        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}
                    ],
                },
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Mi"}},
                },
            },
        )
        name = wait_for(
            lambda: bound_volume(local_env, namespace), timeout=TIMEOUT, what="the claim bound"
        )

        first = teardown.teardown(client, scope, memory)
        assert f"PersistentVolume/{name}" in first
        assert f"PersistentVolumeClaim/{CLAIM} (terminating)" in first

    # No provisioner now: the released volume stays, and keeps the owner.
    wait_for(lambda: claim_gone(local_env, namespace), timeout=TIMEOUT, what="the claim gone")
    for _ in range(2):
        assert teardown.teardown(client, scope, memory) == (f"PersistentVolume/{name}",)

    with volumes.running_provisioner(local_env, tmp_path):  # it removes released volumes
        wait_for(
            lambda: teardown.teardown(client, scope, memory) == () or None,
            timeout=TIMEOUT,
            what="the released volume gone",
        )
    assert not volume_exists(local_env, name)
    assert "PersistentVolume" not in client.listed
    assert client.read.count("PersistentVolume") >= 3
    assert memory.known == {}
