"""Private keys, CSRs and reading certificates, with ``cryptography``.

Keys are made here, in the operator, and only the CSR goes to Vault: Vault
never sees a private key. The private key leaves this module only as PEM bytes
bound for a Secret.
"""

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from shared.api import carotation
from shared.api import certificates as catalogue

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

_RSA_BITS = {catalogue.RSA2048: 2048, catalogue.RSA4096: 4096}


def new_key(algorithm: str) -> PrivateKey:
    if algorithm == catalogue.ECDSA_P256:
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm in _RSA_BITS:
        return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS[algorithm])
    raise ValueError(f"unknown key algorithm {algorithm!r}")


def load_private(pem: bytes) -> PrivateKey:
    """A PEM private key of one of the catalogue's algorithms."""
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"not an EC or RSA key: {type(key).__name__}")
    return key


def private_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def csr_pem(key: PrivateKey, common_name: str) -> str:
    """A CSR carrying the public key; the role, not the CSR, decides names and usages."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    request = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return request.public_bytes(serialization.Encoding.PEM).decode()


def key_algorithm_of(pem: bytes) -> str | None:
    """The catalogue name of a PEM private key's algorithm, None if unreadable."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return catalogue.ECDSA_P256
    if isinstance(key, rsa.RSAPrivateKey):
        return {2048: catalogue.RSA2048, 4096: catalogue.RSA4096}.get(key.key_size)
    return None


@dataclass(frozen=True)
class CertificateInfo:
    """What the operator needs to know about an issued certificate."""

    not_before: datetime
    not_after: datetime
    serial_number: str
    issuer_fingerprint: str

    @classmethod
    def from_pem(cls, pem: bytes | str) -> "CertificateInfo | None":
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            cert = x509.load_pem_x509_certificate(data)
        except ValueError:
            return None
        return cls(
            not_before=cert.not_valid_before_utc.astimezone(UTC),
            not_after=cert.not_valid_after_utc.astimezone(UTC),
            serial_number=serial_text(cert.serial_number),
            issuer_fingerprint=hashlib.sha256(cert.issuer.public_bytes()).hexdigest(),
        )


def serial_text(serial: int) -> str:
    """A serial number the way Vault writes it: hex pairs joined by colons."""
    raw = f"{serial:x}"
    raw = raw if len(raw) % 2 == 0 else f"0{raw}"
    return ":".join(raw[i : i + 2] for i in range(0, len(raw), 2))


def fingerprint(pem: str | bytes) -> str:
    """SHA-256 of a PEM document's text, to compare CA certificates."""
    data = pem.encode() if isinstance(pem, str) else pem
    return hashlib.sha256(data.strip()).hexdigest()


def pair_faults(key_pem: bytes, cert_pem: bytes, ca_pem: bytes) -> str:
    """What is wrong with a key, its certificate and the CAs it names; "" if nothing.

    A Secret edited by hand can hold a readable key and certificate that do
    not belong together, or a certificate none of its CAs signed: either way
    its consumers would fail, so it is re-issued. ``ca_pem`` may be a bundle
    (while the cluster's CA is rotated it holds the old CA and the new one).
    """
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
        cert = x509.load_pem_x509_certificate(cert_pem)
        if not carotation.certificates_of(ca_pem):
            raise ValueError("no CA certificate")
    except (ValueError, TypeError):
        return "the Secret's key, certificate or CA cannot be read"
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, spki) != cert.public_key().public_bytes(der, spki):
        return "the Secret's private key does not match its certificate"
    try:
        signer = carotation.signer_of(cert_pem, [ca_pem])
    except ValueError:
        return "the Secret's key, certificate or CA cannot be read"
    if signer is None:
        return "the Secret's certificate was not signed by its CA"
    return ""
