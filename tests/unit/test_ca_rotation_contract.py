"""The CA rotation contract: phases, issuers per phase, bundles, which CA signed a leaf."""

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shared.api import carotation as ca

NOW = datetime(2026, 12, 5, tzinfo=UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, signer: ec.EllipticCurvePrivateKey
) -> bytes:
    built = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(minutes=1))
        .not_valid_after(NOW + timedelta(days=1))
        .sign(signer, hashes.SHA256())
    )
    return built.public_bytes(serialization.Encoding.PEM)


def _ca(common_name: str = "g1 CA") -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    return _certificate(common_name, key, common_name, key), key


def _leaf(ca_key: ec.EllipticCurvePrivateKey, issuer: str = "g1 CA") -> bytes:
    return _certificate("kube-apiserver", ec.generate_private_key(ec.SECP256R1()), issuer, ca_key)


def test_a_phase_reads_back_from_its_annotation() -> None:
    phase = ca.Phase(ca.REISSUED, "2026-12-05/ops")
    assert ca.parse_phase(phase.text()) == phase
    assert phase.index == 1


@pytest.mark.parametrize("value", [None, "", "Trusted", "Trusted/", "Rolled/x", 3])
def test_anything_else_is_no_phase(value: object) -> None:
    assert ca.parse_phase(value) is None


def test_an_issuer_name_is_stable_and_vault_safe_whatever_the_request() -> None:
    name = ca.issuer_name("rotate: now! / please")
    assert name == ca.issuer_name("rotate: now! / please")
    assert name != ca.issuer_name("another request")
    assert name.replace("-", "").isalnum()
    assert name != ca.FIRST_ISSUER


def test_each_phase_trusts_and_signs_as_the_rotation_says() -> None:
    new = ca.issuer_name("r1")
    assert ca.issuers_for(None, "root") == ca.Issuers("root", ("root",))
    trusted = ca.issuers_for(ca.Phase(ca.TRUSTED, "r1"), "root")
    assert trusted == ca.Issuers(signing="root", trusted=("root", new))
    reissued = ca.issuers_for(ca.Phase(ca.REISSUED, "r1"), "root")
    assert reissued == ca.Issuers(signing=new, trusted=("root", new))
    for name in (ca.DROPPED, ca.DONE):
        dropped = ca.issuers_for(ca.Phase(name, "r1"), "root")
        assert dropped == ca.Issuers(signing=new, trusted=(new,), retired=("root",))


def test_a_phase_made_again_after_its_drop_retires_nothing_more() -> None:
    new = ca.issuer_name("r1")
    assert ca.issuers_for(ca.Phase(ca.DONE, "r1"), new).retired == ()


def test_a_bundle_keeps_order_and_holds_each_certificate_once() -> None:
    old, _ = _ca("old CA")
    new, _ = _ca("new CA")
    joined = ca.bundle([old, new, old + new])
    assert ca.certificates_of(joined) == [old, new]
    assert ca.bundle([new.rstrip(b"\n")]) == new


def test_the_signer_of_a_leaf_is_found_in_a_bundle() -> None:
    old, old_key = _ca()
    new, new_key = _ca()  # same name: only the signature tells them apart
    trusted = [ca.bundle([old, new])]
    assert ca.signer_of(_leaf(old_key), trusted) == old
    assert ca.signer_of(_leaf(new_key), trusted) == new
    assert ca.signer_of(_leaf(ec.generate_private_key(ec.SECP256R1())), trusted) is None
    assert ca.fingerprint(old) != ca.fingerprint(new)
