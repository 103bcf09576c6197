"""Keys and CSRs made in the operator; reading certificates back."""

import pytest
from cryptography import x509

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
