"""Rotation of a guest cluster's CA: the contract between the operators.

A guest's CA is one issuer of its Vault PKI mount (the certificates operator
makes it); every leaf certificate of the cluster is signed by the mount's
default issuer, and every consumer verifies its peers with the ``ca.crt`` of
its Secrets, which may hold several CA certificates (a bundle). A rotation
replaces the CA without a moment in which a consumer refuses a peer:

1. ``Trusted``: a new issuer is made in the same mount, not yet signing; every
   ``ca.crt`` (the ``<c>-ca`` Secret and every leaf's Secret) is the bundle of
   the old CA and the new one; the consumers load it.
2. ``Reissued``: the new issuer is the mount's default: every leaf is issued
   again, signed by it (each consumer still trusts both CAs, so one with a new
   certificate and one with an old one still accept each other).
3. ``Dropped``: every ``ca.crt`` holds the new CA alone and the old issuer is
   deleted from the mount; a certificate of the old CA is refused.
4. ``Done``: the request is answered.

The cluster operator asks for each phase with ``g8s.io/ca-rotation:
<phase>/<request>`` on the cluster's Certificates and checks the consumers in
between; the certificates operator makes the phase in Vault and records it
with the same annotation, and the time, on the ``<c>-ca`` Secret.

Pure functions only: which CA certificates a phase trusts, which issuer
signs, which CA signed a leaf.
"""

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes

from shared.api import stages

ROTATION_ANNOTATION = "g8s.io/ca-rotation"
ROTATION_TIME_ANNOTATION = "g8s.io/ca-rotation-time"
# On a guest's static pods (and so their mirror pods): the file digest of the
# ca.crt the pod was started with. The guest's pki-sync writes it into the
# manifests when the bundle gains a CA, which makes the kubelet start the pod
# again.
STATIC_POD_TRUST_ANNOTATION = "g8s.io/trusted-ca"

TRUSTED = "Trusted"
REISSUED = "Reissued"
DROPPED = "Dropped"
DONE = "Done"
PHASES = (TRUSTED, REISSUED, DROPPED, DONE)

# The issuer a mount's first CA is named (shared/vault.py makes it).
FIRST_ISSUER = "root"

_CERTIFICATE_BLOCK = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----", re.DOTALL
)


@dataclass(frozen=True)
class Phase:
    """A phase of one request: ``Trusted/<request>`` in an annotation."""

    name: str
    request: str

    def text(self) -> str:
        return f"{self.name}/{self.request}"

    @property
    def index(self) -> int:
        return PHASES.index(self.name)


def parse_phase(value: object) -> Phase | None:
    """The phase an annotation names; None for none, or for a value not of this form."""
    found = stages.split(value, PHASES)
    return Phase(*found) if found else None


def issuer_name(request: str) -> str:
    """The Vault issuer a rotation makes: its name is derived from the request, so
    that an interrupted phase made again finds the issuer it made before.

    Vault allows letters, digits, '-' and '_' in issuer names; a request may
    hold anything an annotation can.
    """
    return "ca-" + hashlib.sha256(request.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Issuers:
    """What a phase means for the mount: which issuer signs, which CAs are trusted."""

    signing: str
    trusted: tuple[str, ...]
    # Issuers to delete from the mount.
    retired: tuple[str, ...] = ()


def issuers_for(phase: Phase | None, current: str) -> Issuers:
    """The mount's issuers once ``phase`` is reached, ``current`` signing before it."""
    if phase is None:
        return Issuers(signing=current, trusted=(current,))
    new = issuer_name(phase.request)
    if phase.name == TRUSTED:
        return Issuers(signing=current, trusted=(current, new))
    if phase.name == REISSUED:
        return Issuers(signing=new, trusted=(current, new))
    retired = (current,) if current != new else ()
    return Issuers(signing=new, trusted=(new,), retired=retired)


def certificates_of(bundle: bytes) -> list[bytes]:
    """The PEM certificates of a bundle, in order, each ending in a newline."""
    return [block + b"\n" for block in _CERTIFICATE_BLOCK.findall(bundle)]


def fingerprint(certificate_pem: bytes) -> str:
    """The SHA-256 of a certificate's DER, in hex."""
    certificate = x509.load_pem_x509_certificate(certificate_pem)
    return certificate.fingerprint(hashes.SHA256()).hex()


def bundle(certificates: Iterable[bytes]) -> bytes:
    """One PEM bundle of ``certificates`` in order, each once."""
    seen: set[str] = set()
    out: list[bytes] = []
    for pem in certificates:
        for block in certificates_of(pem):
            digest = fingerprint(block)
            if digest not in seen:
                seen.add(digest)
                out.append(block)
    return b"".join(out)


def trust_digest(bundles: Sequence[bytes]) -> str:
    """A short digest of the CA bundles a consumer loads (etcd's server, peer and client
    bundles, in that order): a consumer reports it once it runs with them."""
    digest = hashlib.sha256()
    for pem in bundles:
        digest.update(hashlib.sha256(pem.strip()).digest())
    return digest.hexdigest()[:16]


def file_digest(pem: bytes) -> str:
    """The digest of a ca.crt file as the guest's pki-sync writes it: the first 16 hex
    digits of the SHA-256 of its bytes (``sha256sum``)."""
    return hashlib.sha256(pem).hexdigest()[:16]


def signer_of(leaf_pem: bytes, trusted: Sequence[bytes]) -> bytes | None:
    """The CA certificate among ``trusted`` whose key signed ``leaf_pem``; None if none."""
    leaf = x509.load_pem_x509_certificate(leaf_pem)
    for pem in trusted:
        for block in certificates_of(pem):
            try:
                leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(block))
            except (ValueError, TypeError, InvalidSignature):
                continue
            return block
    return None
