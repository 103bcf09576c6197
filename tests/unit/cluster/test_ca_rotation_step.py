"""The cluster operator's CA rotation step, against a fake guest API server that shows
the CAs it trusts and the CA of the certificate it serves when the test lets it, and a
stand-in for the certificates operator (which delivers each phase it is asked for)."""

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from operators.cluster import reconcile, rotations
from operators.cluster.model import parse
from operators.cluster.reconcile import Run
from shared.api import carotation as ca
from shared.api import conditions as c
from shared.api.labels import CLUSTER
from shared.kube import ObjectRef
from tests.unit.cluster.helpers import FakeKube, cluster_body

NOW = datetime(2026, 12, 5, tzinfo=UTC)
CA_SECRET = ObjectRef("v1", "Secret", "c1-ca", "ns")
NAMES = ("c1-api", "c1-admin")


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


class Authority:
    """A CA and what it signs."""

    def __init__(self, not_before: datetime) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.pem = self.sign("g1 CA", self.key, not_before)

    def sign(
        self, subject: str, key: ec.EllipticCurvePrivateKey, not_before: datetime = NOW
    ) -> bytes:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "g1 CA")])
        built = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_before + timedelta(days=3650))
            .sign(self.key, hashes.SHA256())
        )
        return built.public_bytes(serialization.Encoding.PEM)

    def leaf(self) -> bytes:
        return self.sign("kube-apiserver", ec.generate_private_key(ec.SECP256R1()))


class Guest:
    """One API server: it shows what it was last ``load``-ed with. Its controller, like
    the real one, only ever adds the CAs it loaded to the published list."""

    def __init__(self, trusted: bytes, serving: bytes) -> None:
        self.published = b""
        self.load(trusted, serving)
        # The bundle its static pods were (re)started with (pki-sync's stamp).
        self.started_with = ca.file_digest(trusted)

    def load(self, trusted: bytes, serving: bytes) -> None:
        self.trusted, self.serving = trusted, serving
        self.published = ca.bundle([self.published, trusted])

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        assert ref == reconcile.EXTENSION_AUTH
        return {"data": {"client-ca-file": self.published.decode()}}

    def patch(self, ref: ObjectRef, body: Any) -> dict[str, Any]:
        assert ref == reconcile.EXTENSION_AUTH
        written = body["data"]["client-ca-file"].encode()
        self.published = ca.bundle([written, self.trusted])  # the controller adds again
        return {}

    def server_certificate(self) -> bytes:
        return self.serving

    def list(self, api_version: str, kind: str, **where: str) -> list[dict[str, Any]]:
        assert (api_version, kind) == ("v1", "Pod")
        assert where == {"namespace": "kube-system", "selector": reconcile.CONTROL_PLANE_PODS}
        annotations = {ca.STATIC_POD_TRUST_ANNOTATION: self.started_with}
        return [
            {
                "metadata": {"name": "kube-apiserver-c1-cp-0", "annotations": annotations},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]},
            }
        ]


class World:
    def __init__(self) -> None:
        self.old, self.new = Authority(NOW - timedelta(days=30)), Authority(NOW)
        self.host = FakeKube()
        self.body = cluster_body()
        self.body["status"] = {"caRotation": {"answered": ""}}
        self.host.add(self._ca_secret(self.old.pem))
        self.host.add(
            {"apiVersion": "v1", "kind": "Secret",
             "metadata": {"name": "c1-kubeconfig", "namespace": "ns"},
             "data": {"value": b64(b"apiVersion: v1")}}
        )  # fmt: skip
        for name in NAMES:
            self.certificate(name)
        self.guest = Guest(self.old.pem, self.old.leaf())
        # What the etcd members run with (the etcd operator's status.trustedCAs).
        self.etcd_trust = ca.trust_digest([self.old.pem] * 3)

    def loads(self, trusted: bytes, serving: bytes | None = None) -> None:
        """The guest's API server and the etcd members restart with ``trusted``."""
        self.guest.load(trusted, serving or self.guest.serving)
        self.guest.started_with = ca.file_digest(trusted)
        self.etcd_trust = ca.trust_digest([trusted] * 3)

    def _ca_secret(self, bundle: bytes) -> dict[str, Any]:
        meta = {"name": "c1-ca", "namespace": "ns"}
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": meta,
            "data": {"ca.crt": b64(bundle)},
        }

    def certificate(self, name: str) -> None:
        self.host.add(
            {"apiVersion": "g8s.io/v1alpha1", "kind": "Certificate",
             "metadata": {"name": name, "namespace": "ns", "labels": {CLUSTER: "c1"}}}
        )  # fmt: skip

    def ask(self, request: str, **more: Any) -> None:
        self.body["spec"]["pki"] = {"caRotation": {"request": request, **more}}

    def move(self) -> Run:
        run = Run(
            parse(self.body),
            self.body,
            self.host.as_kube(),
            now=NOW,
            guest_client=lambda _text: self.guest,  # type: ignore[arg-type,return-value]
        )
        etcd = {"metadata": {"name": "c1"}, "status": {"trustedCAs": self.etcd_trust}}
        run.children = {"EtcdCluster": [etcd]}
        reconcile.rotate_ca(run)
        written = run.observed.ca_rotation_status
        if written is not None:  # the status patch: None removes a key
            merged = {**self.body["status"].get("caRotation", {}), **written}
            self.body["status"]["caRotation"] = {k: v for k, v in merged.items() if v is not None}
        return run

    def certificates_operator(self) -> None:
        """Deliver the phase each Certificate asks for; the CA Secret follows the mount."""
        asked = ""
        for name in NAMES + tuple(n for n in ("n1-node",) if self.host.get(self._ref(n))):
            item = self.host.get(self._ref(name))
            assert item is not None
            asked = (item["metadata"].get("annotations") or {}).get(ca.ROTATION_ANNOTATION, "")
            item["status"] = {"caRotation": asked}
        phase = ca.parse_phase(asked)
        assert phase is not None
        bundle = self.new.pem if phase.index >= 2 else ca.bundle([self.old.pem, self.new.pem])
        secret = self.host.get(CA_SECRET)
        assert secret is not None
        secret["data"]["ca.crt"] = b64(bundle)

    def _ref(self, name: str) -> ObjectRef:
        return ObjectRef("g8s.io/v1alpha1", "Certificate", name, "ns")

    def asked(self) -> set[str]:
        found = set()
        for item in self.host.of("Certificate"):
            found.add((item["metadata"].get("annotations") or {}).get(ca.ROTATION_ANNOTATION, ""))
        return found


def condition(run: Run) -> tuple[str, str, str]:
    found = run.observed.ca_rotation
    assert found is not None
    return found.status, found.reason, found.message


def test_the_first_look_takes_the_request_of_a_new_cluster_as_answered() -> None:
    world = World()
    world.body["status"] = {}
    world.ask("r0")
    run = world.move()
    assert run.observed.ca_rotation_status == {"answered": "r0"}
    assert world.asked() == {""}
    assert condition(world.move())[:2] == (c.FALSE, reconcile.REASON_ROTATION_IDLE)


def test_each_phase_waits_for_the_guest_to_show_the_last() -> None:
    world = World()
    world.ask("r1")
    assert "asked 2 of 2 Certificates for Trusted" in condition(world.move())[2]
    assert world.asked() == {"Trusted/r1"}
    assert world.body["status"]["caRotation"] == {"answered": "", "request": "r1"}
    world.certificates_operator()

    status, reason, message = condition(world.move())
    assert (status, reason) == (c.TRUE, ca.TRUSTED)
    assert "not yet of exactly the 2" in message
    bundle = ca.bundle([world.old.pem, world.new.pem])
    # The API server reloads its client CAs by itself, before it restarts.
    world.guest.load(bundle, world.guest.serving)
    assert "etcd members" in condition(world.move())[2]
    world.etcd_trust = ca.trust_digest([bundle] * 3)
    message = condition(world.move())[2]
    assert "control plane has not restarted with the bundle yet: kube-apiserver-c1-cp-0" in message
    world.loads(bundle)
    assert "for Reissued" in condition(world.move())[2]
    world.certificates_operator()

    assert "new CA" in condition(world.move())[2]
    world.loads(bundle, world.new.leaf())
    assert "for Dropped" in condition(world.move())[2]
    world.certificates_operator()

    # The API server still trusts the old CA: taken out of the list, it comes back.
    message = condition(world.move())[2]
    assert "not yet of exactly the 1" in message
    assert "taken out of the published list" in message
    assert "not yet of exactly the 1" in condition(world.move())[2]
    world.loads(world.new.pem)
    assert "taken out of the published list" in condition(world.move())[2]
    assert "for Done" in condition(world.move())[2]
    world.certificates_operator()

    status, reason, _ = condition(world.move())
    assert (status, reason) == (c.FALSE, reconcile.REASON_ROTATED)
    assert world.body["status"]["caRotation"] == {"answered": "r1"}
    assert condition(world.move())[1] == reconcile.REASON_ROTATION_IDLE


def test_a_certificate_made_mid_rotation_is_asked_before_the_next_phase() -> None:
    world = World()
    world.ask("r1")
    world.move()
    world.certificates_operator()
    world.certificate("n1-node")
    world.loads(ca.bundle([world.old.pem, world.new.pem]))
    assert "asked 1 of 3 Certificates for Trusted" in condition(world.move())[2]
    assert world.asked() == {"Trusted/r1"}
    assert "1 Certificates behind for Trusted (n1-node)" in condition(world.move())[2]
    world.certificates_operator()
    assert "for Reissued" in condition(world.move())[2]


def test_paused_holds_between_phases() -> None:
    world = World()
    world.ask("r1", paused=True)
    world.move()
    assert world.asked() == {""}  # not even started
    world.ask("r1")
    world.move()
    world.certificates_operator()
    world.loads(ca.bundle([world.old.pem, world.new.pem]))
    world.ask("r1", paused=True)
    assert condition(world.move())[2] == "waiting for paused after Trusted"
    assert world.asked() == {"Trusted/r1"}


def test_the_guest_unreachable_is_said_and_changes_nothing() -> None:
    world = World()
    world.ask("r1")
    world.move()
    world.certificates_operator()

    def unreachable() -> bytes:
        raise ConnectionRefusedError("refused")

    world.guest.server_certificate = unreachable  # type: ignore[method-assign]
    assert "waiting for the guest API: ConnectionRefusedError" in condition(world.move())[2]
    assert world.asked() == {"Trusted/r1"}


class Clusters:
    """A Cluster whose CA rotation is answered on the third look."""

    def __init__(self) -> None:
        self.looks = 0
        self.patches: list[Any] = []

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        assert ref.kind == "Cluster"
        self.looks += 1
        value = self.patches[-1]["spec"]["pki"]["caRotation"]["request"] if self.patches else ""
        rotating = {"type": c.CA_ROTATING, "status": "True", "reason": "Trusted", "message": "m"}
        status: dict[str, Any] = {"conditions": [rotating]}
        if self.looks >= 3:
            status["conditions"] = [{**rotating, "status": "False", "reason": "Rotated"}]
            status["caRotation"] = {"answered": value}
        return {"metadata": {}, "status": status}

    def patch(self, ref: ObjectRef, body: Any) -> dict[str, Any]:
        self.patches.append(body)
        return {}


def test_g8s_rotate_ca_asks_in_the_spec_and_ends_on_the_answer() -> None:
    kube = Clusters()
    said: list[str] = []
    moments = iter(range(1000))
    line = rotations.rotate(
        kube,
        rotations.CA,
        "c1",
        "ns",
        timeout=600,
        say=said.append,
        clock=lambda: next(moments),
        sleep=lambda _: None,
    )
    assert line == f"{c.CA_ROTATING}=False Rotated: m"
    (patch,) = kube.patches
    assert set(patch) == {"spec"}  # no annotation: the spec asks
    assert said[0].startswith("asked for a new CA for ns/c1 (spec.pki.caRotation.request=")
