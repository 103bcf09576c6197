"""Keys and CSRs made in the operator; reading certificates back."""

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from operators.certificates import keys


@pytest.mark.parametrize("algorithm", ["ECDSAP256", "RSA2048"])
def test_key_algorithm_round_trip(algorithm: str) -> None:
    key = keys.new_key(algorithm)
    assert keys.key_algorithm_of(keys.private_pem(key)) == algorithm


def test_unknown_algorithm() -> None:
    with pytest.raises(ValueError, match="unknown key algorithm"):
        keys.new_key("DSA")


def test_unreadable_key() -> None:
    assert keys.key_algorithm_of(b"garbage") is None


def test_csr_carries_the_common_name_and_public_key() -> None:
    key = keys.new_key("ECDSAP256")
    csr = x509.load_pem_x509_csr(keys.csr_pem(key, "system:node:c1-w-abcde").encode())
    assert csr.is_signature_valid
    assert csr.subject.rfc4514_string() == "CN=system:node:c1-w-abcde"
    assert csr.public_key() == key.public_key()


def test_serial_text_matches_vault() -> None:
    assert keys.serial_text(0x1A2B3) == "01:a2:b3"
    assert keys.serial_text(0xFF) == "ff"


def test_unreadable_certificate() -> None:
    assert keys.CertificateInfo.from_pem("not a certificate") is None


def certificate(
    key: keys.PrivateKey, name: str, issuer_key: keys.PrivateKey | None = None
) -> bytes:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca")]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(hours=1))
        .sign(issuer_key or key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def test_pair_faults_find_a_tampered_secret() -> None:
    ca_key, other_ca_key = keys.new_key("ECDSAP256"), keys.new_key("ECDSAP256")
    ca, other_ca = certificate(ca_key, "ca"), certificate(other_ca_key, "ca")
    key, stranger = keys.new_key("ECDSAP256"), keys.new_key("ECDSAP256")
    cert = certificate(key, "leaf", issuer_key=ca_key)
    assert keys.pair_faults(keys.private_pem(key), cert, ca) == ""
    assert "does not match" in keys.pair_faults(keys.private_pem(stranger), cert, ca)
    assert "not signed by" in keys.pair_faults(keys.private_pem(key), cert, other_ca)
    assert "cannot be read" in keys.pair_faults(b"garbage", cert, ca)
