"""Encryption key rotation: the cluster operator's moves against a fake guest whose API
servers load the keys the Secret holds when the test lets them."""

import base64
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from operators.cluster import keyrotation, reconcile, rotations
from operators.cluster.model import parse
from operators.cluster.reconcile import Run
from shared.api import conditions as c
from shared.api import encryption
from shared.errors import ApiError
from shared.kube import ObjectRef
from tests.unit.cluster.helpers import FakeKube, cluster_body

NOW = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
IDENTITY = "apiserver-6f1c"
OLD = base64.b64encode(b"o" * 32).decode()
NEW = b"n" * 32


class Guest:
    """Leases, /metrics and Secrets of a guest with one API server."""

    def __init__(self, host: FakeKube) -> None:
        self.host = host
        self.loads = True
        self.loaded = ""
        self.secrets = [{"metadata": {"name": f"s{i}", "namespace": "default"}} for i in range(3)]
        self.rewrites: list[str] = []
        self.readable = True

    def _secret_keys(self) -> tuple[encryption.Key, ...]:
        secret = self.host.get(ObjectRef("v1", "Secret", "c1-encryption", "ns"))
        assert secret is not None
        return encryption.keys_of(secret["data"])

    def list(self, api_version: str, kind: str, *, namespace: str | None, selector: str = ""):  # type: ignore[no-untyped-def]
        if kind == "Lease":
            renewed = (NOW - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            holder = f"{IDENTITY}_0b7c5a4e"  # the per-process suffix is not the identity
            return [
                {
                    "metadata": {"name": IDENTITY},
                    "spec": {"holderIdentity": holder, "renewTime": renewed},
                }
            ]
        assert kind == "Secret"
        if not self.readable:
            raise ApiError(500, "InternalError", "unable to transform key: no matching key")
        return copy.deepcopy(self.secrets)

    def get_raw(self, path: str) -> str:
        assert path == "/metrics"
        if self.loads:
            self.loaded = encryption.config_hash(self._secret_keys())
        who = keyrotation.identity_hash(IDENTITY)
        return (
            "# TYPE apiserver_encryption_config_controller_last_config_info gauge\n"
            "apiserver_encryption_config_controller_last_config_info"
            f'{{apiserver_id_hash="{who}",hash="{self.loaded}"}} 1\n'
        )

    def patch(self, ref: ObjectRef, body: Any) -> dict[str, Any]:
        assert body == {}
        self.rewrites.append(ref.name)
        return {}


def setup(request: str = "r1") -> tuple[FakeKube, Guest, dict[str, Any]]:
    host = FakeKube()
    body = cluster_body()
    body["metadata"]["annotations"] = {keyrotation.REQUEST_ANNOTATION: request}
    host.add(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "c1-encryption", "namespace": "ns"},
            "data": {"key": OLD},
        }
    )
    kubeconfig = base64.b64encode(b"apiVersion: v1").decode()
    host.add(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "c1-kubeconfig", "namespace": "ns"},
            "data": {"value": kubeconfig},
        }
    )
    return host, Guest(host), body


def move(host: FakeKube, guest: Guest, body: dict[str, Any]) -> Run:
    run = Run(
        parse(body),
        body,
        host.as_kube(),
        new_key=lambda: NEW,
        now=NOW,
        guest_client=lambda _text: guest,  # type: ignore[arg-type,return-value]
    )
    reconcile.rotate_encryption(run)
    return run


def keys(host: FakeKube) -> list[str]:
    secret = host.get(ObjectRef("v1", "Secret", "c1-encryption", "ns"))
    assert secret is not None
    return [k.name for k in encryption.keys_of(secret["data"])]


def test_a_rotation_adds_switches_rewrites_removes_and_reads_back() -> None:
    host, guest, body = setup()
    reasons = []
    for _ in range(5):
        run = move(host, guest, body)
        assert run.observed.rotation is not None
        reasons.append(run.observed.rotation.reason)
        if reasons[-1] == keyrotation.ADDED:
            assert keys(host) == ["key1", "key2"]  # the new key read, not yet written with
        if reasons[-1] == keyrotation.SWITCHED:
            assert keys(host) == ["key2", "key1"]
    assert reasons == [*keyrotation.PHASES, reconcile.REASON_ROTATED]
    assert keys(host) == ["key2"]
    assert sorted(guest.rewrites) == ["s0", "s1", "s2"]
    final = run.observed.rotation
    assert final is not None
    assert final.status == c.FALSE
    assert "3 Secrets rewritten, 3 read back" in final.message
    # The request is answered once: the next reconcile does nothing.
    again = move(host, guest, body)
    assert again.observed.rotation is not None
    assert again.observed.rotation.reason == reconcile.REASON_ROTATION_IDLE
    assert again.observed.rotation_recheck is None
    assert keys(host) == ["key2"]


def test_nothing_goes_on_until_every_api_server_loaded_the_keys() -> None:
    host, guest, body = setup()
    move(host, guest, body)  # KeyAdded
    guest.loads = False
    for _ in range(3):
        run = move(host, guest, body)
        assert run.observed.rotation is not None
        assert run.observed.rotation.reason == keyrotation.ADDED
        assert "waiting for API servers to load it" in run.observed.rotation.message
        # Looked at again soon: no guest event wakes the operator.
        assert run.observed.rotation_recheck == NOW + reconcile.ROTATION_RECHECK
    assert keys(host) == ["key1", "key2"]
    guest.loads = True
    move(host, guest, body)
    assert keys(host) == ["key2", "key1"]


def test_an_unreadable_secret_holds_the_rotation_before_it_ends() -> None:
    host, guest, body = setup()
    for _ in range(4):
        move(host, guest, body)
    guest.readable = False
    run = move(host, guest, body)
    assert run.observed.rotation is not None
    assert run.observed.rotation.status == c.TRUE
    assert run.observed.rotation.reason == keyrotation.REMOVED
    assert "no matching key" in run.observed.rotation.message


def test_without_a_request_nothing_changes() -> None:
    host, guest, body = setup(request="")
    run = move(host, guest, body)
    assert run.observed.rotation is not None
    assert run.observed.rotation.reason == reconcile.REASON_ROTATION_IDLE
    assert "write key key1" in run.observed.rotation.message
    assert keys(host) == ["key1"]


def test_live_api_servers_and_what_they_loaded() -> None:
    fresh = (NOW - timedelta(seconds=10)).isoformat()
    stale = (NOW - timedelta(minutes=30)).isoformat()
    leases = [
        {"metadata": {"name": "a"}, "spec": {"holderIdentity": "a_1", "renewTime": fresh}},
        {"metadata": {"name": "b"}, "spec": {"holderIdentity": "b_1", "renewTime": stale}},
    ]
    assert keyrotation.live_apiservers(leases, NOW) == {"a"}
    text = (
        "apiserver_encryption_config_controller_last_config_info"
        f'{{apiserver_id_hash="{keyrotation.identity_hash("a")}",hash="sha256:x"}} 1\n'
    )
    seen = keyrotation.loaded_configs(text)
    assert keyrotation.not_loaded({"a"}, seen, "sha256:x") == []
    assert keyrotation.not_loaded({"a"}, seen, "sha256:y") == ["a"]
    assert keyrotation.not_loaded({"a", "c"}, seen, "sha256:x") == ["c"]


class Clusters:
    """A Cluster and its encryption Secret as `g8s rotate` reads them; the operator
    answers on the third look, and reports it in the status one look later."""

    def __init__(self) -> None:
        self.looks = 0
        self.value = ""

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        if ref.kind == "Secret":
            done = self.value if self.looks >= 3 else ""
            annotations = {keyrotation.DONE_ANNOTATION: done}
            return {"metadata": {"annotations": annotations}, "data": {}}
        self.looks += 1
        rotating = {"type": c.ENCRYPTION_KEY_ROTATING, "status": "True", "reason": "KeyAdded"}
        if self.looks >= 4:
            rotating = {**rotating, "status": "False", "reason": "Rotated", "message": "key2"}
        return {"metadata": {}, "status": {"conditions": [rotating]}}

    def patch(self, ref: ObjectRef, body: Any) -> dict[str, Any]:
        self.value = body["metadata"]["annotations"][keyrotation.REQUEST_ANNOTATION]
        return {}


def test_g8s_rotate_asks_once_and_ends_on_the_answered_status() -> None:

    kube = Clusters()
    said: list[str] = []
    moments = iter(range(1000))
    line = rotations.rotate_encryption(
        kube,
        "c1",
        "ns",
        timeout=600,
        say=said.append,
        clock=lambda: next(moments),
        sleep=lambda _: None,
    )
    assert line == f"{c.ENCRYPTION_KEY_ROTATING}=False Rotated: key2"
    assert said[0].startswith("asked for a new encryption key for ns/c1")
    assert any("KeyAdded" in s for s in said)
    # Each progress line says how long the rotation has been running.
    assert all(s.split(" s  ")[0].strip().isdigit() for s in said[1:]), said
