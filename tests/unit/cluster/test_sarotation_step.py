"""The cluster operator's service-account key rotation step, against a fake guest whose
API server serves the keys the Secret holds when the test lets it, and a stand-in for
the certificates operator (operators/certificates/keypair_rotation.py)."""

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from operators.certificates import keypair_rotation, keys
from operators.cluster import reconcile, rotations, sarotation
from operators.cluster.model import parse
from operators.cluster.reconcile import Run
from shared.api import conditions as c
from shared.api import serviceaccount as sa
from shared.kube import ObjectRef
from tests.unit.cluster.helpers import FakeKube, cluster_body

NOW = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
NAME = "c1-service-account"
SECRET = ObjectRef("v1", "Secret", NAME, "ns")
CERTIFICATE = ObjectRef("g8s.io/v1alpha1", "Certificate", NAME, "ns")


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def private() -> bytes:
    return keys.private_pem(ec.generate_private_key(ec.SECP256R1()))


class Guest:
    """One API server: it serves the Secret's keys once ``restart()`` is called."""

    def __init__(self, host: FakeKube) -> None:
        self.host = host
        self.trusted: list[str] = []
        self.signing = ""
        self.now = NOW
        self.restart()

    def restart(self) -> None:
        secret = self.host.get(SECRET)
        assert secret is not None
        data = {k: base64.b64decode(v) for k, v in secret["data"].items()}
        self.trusted = sa.trusted_ids(data[sa.TRUSTED_KEYS])
        self.signing = sa.key_id(sa.public_of(data[sa.SIGNING_KEY]))

    def list(self, api_version: str, kind: str, *, namespace: str | None, selector: str = ""):  # type: ignore[no-untyped-def]
        assert kind == "Lease"
        renewed = (self.now - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return [{"metadata": {"name": "apiserver-1"}, "spec": {"renewTime": renewed}}]

    def get_raw(self, path: str) -> str:
        assert path == "/openid/v1/jwks"
        return json.dumps({"keys": [{"kid": kid} for kid in self.trusted]})

    def service_account_token(self, name: str, namespace: str) -> str:
        header = b64(json.dumps({"alg": "ES256", "kid": self.signing}).encode()).rstrip("=")
        return f"{header}.e30.c2ln"


def setup(grace: str = "0") -> tuple[FakeKube, Guest, dict[str, Any]]:
    host = FakeKube()
    body = cluster_body()
    body["metadata"]["annotations"] = {
        sarotation.REQUEST_ANNOTATION: "r1",
        reconcile.SA_GRACE_ANNOTATION: grace,
    }
    first = private()
    host.add(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": NAME, "namespace": "ns"},
            "data": {sa.SIGNING_KEY: b64(first), sa.TRUSTED_KEYS: b64(sa.public_of(first))},
        }
    )
    host.add({"apiVersion": CERTIFICATE.api_version, "kind": "Certificate",
              "metadata": {"name": NAME, "namespace": "ns"}})  # fmt: skip
    host.add(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "c1-kubeconfig", "namespace": "ns"},
            "data": {"value": b64(b"apiVersion: v1")},
        }
    )
    return host, Guest(host), body


def certificates_operator(host: FakeKube, at: datetime) -> None:
    """What the certificates operator does with the step its Certificate asks for."""
    certificate, secret = host.get(CERTIFICATE), host.get(SECRET)
    assert certificate is not None
    assert secret is not None
    asked = sa.parse_step(
        (certificate["metadata"].get("annotations") or {}).get(sa.ROTATION_ANNOTATION)
    )
    reached = sa.parse_step(
        (secret["metadata"].get("annotations") or {}).get(sa.ROTATION_ANNOTATION)
    )
    if asked is None or not keypair_rotation.may_take(asked, reached):
        return
    data = {k: base64.b64decode(v) for k, v in secret["data"].items()}
    rotated = keypair_rotation.step_data(data, asked.name, private())
    secret["data"] = {k: b64(v) for k, v in rotated.items()}
    secret["metadata"]["annotations"] = {
        sa.ROTATION_ANNOTATION: asked.text(),
        sa.ROTATION_TIME_ANNOTATION: at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def move(host: FakeKube, guest: Guest, body: dict[str, Any], now: datetime = NOW) -> Run:
    guest.now = now
    run = Run(
        parse(body),
        body,
        host.as_kube(),
        now=now,
        guest_client=lambda _text: guest,  # type: ignore[arg-type,return-value]
    )
    run.children = {"Certificate": host.of("Certificate")}
    reconcile.rotate_service_account(run)
    return run


def condition(run: Run) -> tuple[str, str, str]:
    found = run.observed.sa_rotation
    assert found is not None
    return found.status, found.reason, found.message


def test_a_rotation_waits_for_the_guest_between_its_steps() -> None:
    host, guest, body = setup()
    first_signing = guest.signing
    assert condition(move(host, guest, body))[1] == "Requested"  # asked for Added
    certificates_operator(host, NOW)
    status, reason, message = condition(move(host, guest, body))
    assert (status, reason) == (c.TRUE, sa.ADDED)
    assert "trust exactly" in message  # the API server has not restarted yet
    guest.restart()
    assert "Switched" in condition(move(host, guest, body))[2]
    certificates_operator(host, NOW)
    assert "sign with" in condition(move(host, guest, body))[2]
    guest.restart()
    assert guest.signing != first_signing
    assert "Removed" in condition(move(host, guest, body))[2]
    certificates_operator(host, NOW)
    assert "trust exactly" in condition(move(host, guest, body))[2]
    guest.restart()
    assert guest.trusted == [guest.signing]
    assert "Done" in condition(move(host, guest, body))[2]
    certificates_operator(host, NOW)
    status, reason, message = condition(move(host, guest, body))
    assert (status, reason) == (c.FALSE, reconcile.REASON_ROTATED)
    assert guest.signing[:12] in message


def test_the_old_key_is_trusted_for_the_grace_after_the_switch() -> None:
    host, guest, body = setup(grace="600")
    for _ in range(2):
        move(host, guest, body)
        certificates_operator(host, NOW)
        guest.restart()
    reached = host.get(SECRET)
    assert reached is not None
    assert reached["metadata"]["annotations"][sa.ROTATION_ANNOTATION] == "Switched/r1"
    run = move(host, guest, body, now=NOW + timedelta(seconds=599))
    assert "accepted until" in condition(run)[2]
    assert run.observed.sa_rotation_recheck == NOW + timedelta(seconds=600)
    later = move(host, guest, body, now=NOW + timedelta(seconds=600))
    assert "Removed" in condition(later)[2]


def test_no_request_is_idle_without_reading_the_key_pair() -> None:
    host, guest, body = setup()
    body["metadata"]["annotations"] = {}
    host.objects.pop(("Secret", "ns", NAME))  # read, it would be missed: no condition
    status, reason, message = condition(move(host, guest, body))
    assert (status, reason) == (c.FALSE, reconcile.REASON_ROTATION_IDLE)
    assert "no rotation asked" in message


class Clusters:
    """A Cluster whose service-account rotation is answered on the third look."""

    def __init__(self) -> None:
        self.looks = 0
        self.annotations: dict[str, str] = {}

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        value = self.annotations.get(sarotation.REQUEST_ANNOTATION, "")
        if ref.kind == "Secret":
            assert ref.name == NAME
            step = sa.Step(sa.DONE, value).text() if self.looks >= 3 else f"Added/{value}"
            return {"metadata": {"annotations": {sa.ROTATION_ANNOTATION: step}}}
        self.looks += 1
        rotating = {"type": c.SERVICE_ACCOUNT_KEY_ROTATING, "status": "True", "reason": "Added"}
        if self.looks >= 4:
            rotating = {**rotating, "status": "False", "reason": "Rotated", "message": "kid"}
        return {"metadata": {}, "status": {"conditions": [rotating]}}

    def patch(self, ref: ObjectRef, body: Any) -> dict[str, Any]:
        self.annotations.update(body["metadata"]["annotations"])
        return {}


def test_g8s_rotate_sa_asks_with_its_grace_and_ends_on_the_answer() -> None:
    kube = Clusters()
    said: list[str] = []
    moments = iter(range(1000))
    line = rotations.rotate(
        kube,
        rotations.SERVICE_ACCOUNT,
        "c1",
        "ns",
        timeout=600,
        say=said.append,
        extra={reconcile.SA_GRACE_ANNOTATION: "60"},
        clock=lambda: next(moments),
        sleep=lambda _: None,
    )
    assert line == f"{c.SERVICE_ACCOUNT_KEY_ROTATING}=False Rotated: kid"
    assert kube.annotations[reconcile.SA_GRACE_ANNOTATION] == "60"
    assert said[0].startswith("asked for a new service-account signing key for ns/c1")
