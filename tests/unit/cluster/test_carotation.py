"""The cluster operator's next move in a CA rotation, from what the Certificates report."""

from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from operators.cluster import carotation as plan
from shared.api import carotation as ca

NOW = datetime(2026, 12, 5, tzinfo=UTC)


def certificate(name: str, asked: str = "", reached: str = "") -> dict[str, Any]:
    annotations = {ca.ROTATION_ANNOTATION: asked} if asked else {}
    status = {"caRotation": reached} if reached else {}
    return {"metadata": {"name": name, "annotations": annotations}, "status": status}


def move(request: str, *certificates: dict[str, Any], **options: Any) -> plan.Move:
    return plan.next_move(plan.progress(request, certificates), **options)


def test_nothing_asked_means_nothing_to_do() -> None:
    assert move("", certificate("c1-api")) == plan.IDLE


def test_a_new_request_asks_for_trusted_first() -> None:
    assert move("r1", certificate("c1-api")).ask == ca.Phase(ca.TRUSTED, "r1")


def test_each_phase_follows_once_every_certificate_delivered_the_last() -> None:
    for reached, (after, check) in plan.FOLLOWING.items():
        text = ca.Phase(reached, "r1").text()
        both = (certificate("c1-api", text, text), certificate("c1-worker", text, text))
        assert move("r1", *both) == plan.Move(ca.Phase(after, "r1"), check)


def test_a_certificate_behind_holds_the_next_phase() -> None:
    trusted = ca.Phase(ca.TRUSTED, "r1").text()
    got = move("r1", certificate("c1-api", trusted, trusted), certificate("c1-worker", trusted))
    assert got.ask is None
    assert "1 Certificates behind for Trusted (c1-worker)" in got.waiting


def test_a_certificate_made_since_is_asked_for_the_phase_too() -> None:
    trusted = ca.Phase(ca.TRUSTED, "r1").text()
    got = move("r1", certificate("c1-api", trusted, trusted), certificate("n1-node"))
    assert got.ask == ca.Phase(ca.TRUSTED, "r1")
    assert "n1-node" in got.waiting


def test_an_older_request_on_a_certificate_is_not_this_one() -> None:
    old = ca.Phase(ca.DONE, "r0").text()
    assert move("r1", certificate("c1-api", old, old)).ask == ca.Phase(ca.TRUSTED, "r1")


def test_done_or_answered_is_idle() -> None:
    done = ca.Phase(ca.DONE, "r1").text()
    assert move("r1", certificate("c1-api", done, done)) == plan.IDLE
    assert move("r1", certificate("c1-api"), answered="r1") == plan.IDLE


def test_paused_holds_between_phases_and_before_the_first() -> None:
    trusted = ca.Phase(ca.TRUSTED, "r1").text()
    held = move("r1", certificate("c1-api", trusted, trusted), paused=True)
    assert held.ask is None
    assert held.waiting == "paused after Trusted"
    assert move("r1", certificate("c1-api"), paused=True) == plan.IDLE


def _ca_pem(not_before: datetime) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "g1 CA")])
    built = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return built.public_bytes(serialization.Encoding.PEM)


def test_a_ca_older_than_max_age_asks_once_under_its_own_name() -> None:
    pem = _ca_pem(NOW - timedelta(days=400))
    year = timedelta(days=365)
    request = plan.age_request(pem, year, NOW)
    assert request.startswith(plan.AGE_REQUEST_PREFIX)
    assert request == plan.age_request(pem, year, NOW + timedelta(days=1))
    assert plan.age_request(_ca_pem(NOW - timedelta(days=400)), year, NOW) != request
    assert plan.age_request(_ca_pem(NOW - timedelta(days=10)), year, NOW) == ""
    assert plan.age_request(pem, None, NOW) == ""


def test_the_guest_must_trust_exactly_the_bundle_then_serve_a_new_certificate() -> None:
    old, new = _ca_pem(NOW - timedelta(days=400)), _ca_pem(NOW)
    bundle = ca.bundle([old, new])
    both = frozenset({ca.fingerprint(old), ca.fingerprint(new)})
    only_old = frozenset({ca.fingerprint(old)})
    view = plan.GuestView(client_cas=only_old, serving_signer=ca.fingerprint(old))
    assert "not yet of exactly the 2" in plan.missing(plan.Check.TRUSTS_BOTH, view, bundle)
    view = plan.GuestView(client_cas=both, serving_signer=ca.fingerprint(old))
    assert "etcd members" in plan.missing(plan.Check.TRUSTS_BOTH, view, bundle)
    etcd = ca.trust_digest([bundle] * 3)
    view = plan.GuestView(client_cas=both, serving_signer=ca.fingerprint(old), etcd_trust=etcd)
    assert plan.missing(plan.Check.TRUSTS_BOTH, view, bundle) == ""
    assert "new CA" in plan.missing(plan.Check.SIGNED_BY_NEW, view, bundle)
    view = plan.GuestView(client_cas=both, serving_signer=ca.fingerprint(new), etcd_trust=etcd)
    assert plan.missing(plan.Check.SIGNED_BY_NEW, view, bundle) == ""
    assert plan.missing(plan.Check.TRUSTS_NEW, view, new) != ""
    only_new = frozenset({ca.fingerprint(new)})
    done = plan.GuestView(only_new, ca.fingerprint(new), etcd)
    assert "etcd members" in plan.missing(plan.Check.TRUSTS_NEW, done, new)
    done = plan.GuestView(only_new, ca.fingerprint(new), ca.trust_digest([new] * 3))
    assert plan.missing(plan.Check.TRUSTS_NEW, done, new) == ""


def test_the_client_cas_are_read_from_the_published_configmap() -> None:
    old, new = _ca_pem(NOW), _ca_pem(NOW)
    configmap = {"data": {"client-ca-file": (old + new).decode()}}
    assert plan.client_cas(configmap) == {ca.fingerprint(old), ca.fingerprint(new)}
    assert plan.client_cas(None) == frozenset()


def _pod(name: str, trust: str | None, ready: str = "True", **meta: Any) -> dict[str, Any]:
    annotations = {ca.STATIC_POD_TRUST_ANNOTATION: trust} if trust is not None else {}
    return {
        "metadata": {"name": name, "annotations": annotations, **meta},
        "status": {"conditions": [{"type": "Ready", "status": ready}]},
    }


def test_the_control_plane_trust_is_each_ready_pods_stamp() -> None:
    pods = [
        _pod("kube-apiserver-cp-0", "aaaa"),
        _pod("kube-scheduler-cp-0", "aaaa", ready="False"),
        _pod("kube-controller-manager-cp-0", "aaaa", deletionTimestamp="2026-12-06T00:00:00Z"),
        _pod("kube-apiserver-cp-1", None),  # a guest booted before the stamp
    ]
    assert plan.control_plane_trust(pods) == {
        "kube-apiserver-cp-0": "aaaa",
        "kube-scheduler-cp-0": "",
        "kube-controller-manager-cp-0": "",
    }


def test_the_bundle_phase_waits_for_the_control_plane_to_restart_with_the_bundle() -> None:
    old, new = _ca_pem(NOW - timedelta(days=400)), _ca_pem(NOW)
    bundle = ca.bundle([old, new])
    both = frozenset({ca.fingerprint(old), ca.fingerprint(new)})
    etcd = ca.trust_digest([bundle] * 3)
    stale = {"kube-apiserver-cp-0": ca.file_digest(old), "kube-scheduler-cp-0": ""}
    view = plan.GuestView(both, ca.fingerprint(old), etcd, stale)
    said = plan.missing(plan.Check.TRUSTS_BOTH, view, bundle)
    assert said.endswith("restarted with the bundle yet: kube-apiserver-cp-0, kube-scheduler-cp-0")
    started = {name: ca.file_digest(bundle) for name in stale}
    view = plan.GuestView(both, ca.fingerprint(old), etcd, started)
    assert plan.missing(plan.Check.TRUSTS_BOTH, view, bundle) == ""
    # Dropping a CA restarts no static pod: the last check does not wait for one.
    only_new = frozenset({ca.fingerprint(new)})
    done = plan.GuestView(only_new, ca.fingerprint(new), ca.trust_digest([new] * 3), started)
    assert plan.missing(plan.Check.TRUSTS_NEW, done, new) == ""
