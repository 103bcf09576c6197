"""Rotation of a guest's service-account signing key: the contract between operators.

The key pair lives in Secret ``<c>-service-account`` (the certificates
operator writes it): ``tls.key`` signs tokens, ``tls.pub`` holds every public
key the guest API server accepts tokens from (a PEM bundle: the API server
reads several keys from one ``--service-account-key-file``), and, while a
rotation is under way, ``next.key`` holds the key that will sign next.

The cluster operator asks for each step with the annotation
``g8s.io/key-rotation: <step>/<request>`` on the key pair's Certificate; the
certificates operator makes the step and records it with the same annotation
on the Secret, with the time in ``g8s.io/key-rotation-time``. The steps, as
Kubernetes documents a signing key's rotation:

1. ``Added``: a new key, trusted (in ``tls.pub``) but not yet signing;
2. ``Switched``: the new key signs; the old one is still trusted, so tokens
   it signed keep working until the pods' tokens are renewed;
3. ``Removed``: only the new key is trusted; a token of the old one is refused;
4. ``Done``: the request is answered.

Between the steps the cluster operator checks the guest's API servers: the
new key's id in ``/openid/v1/jwks`` after ``Added``, in a new token's header
after ``Switched``, the old ids gone after ``Removed``. A key's id is the one
the API server computes: the unpadded base64url SHA-256 of the public key's
DER (SubjectPublicKeyInfo).
"""

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization

from shared.api import stages

ROTATION_ANNOTATION = "g8s.io/key-rotation"
ROTATION_TIME_ANNOTATION = "g8s.io/key-rotation-time"
SIGNING_KEY = "tls.key"
TRUSTED_KEYS = "tls.pub"
NEXT_KEY = "next.key"

ADDED = "Added"
SWITCHED = "Switched"
REMOVED = "Removed"
DONE = "Done"
STEPS = (ADDED, SWITCHED, REMOVED, DONE)

_PUBLIC_BLOCK = re.compile(
    rb"-----BEGIN PUBLIC KEY-----\r?\n.*?-----END PUBLIC KEY-----\r?\n?", re.DOTALL
)


@dataclass(frozen=True)
class Step:
    """A step of one request: ``Added/<request>`` in an annotation."""

    name: str
    request: str

    def text(self) -> str:
        return f"{self.name}/{self.request}"


def parse_step(value: object) -> Step | None:
    """The step an annotation names; None for none, or for a value not of this form."""
    found = stages.split(value, STEPS)
    return Step(*found) if found else None


def public_blocks(bundle: bytes) -> list[bytes]:
    """The PEM public keys of a bundle, in order."""
    return [
        block if block.endswith(b"\n") else block + b"\n" for block in _PUBLIC_BLOCK.findall(bundle)
    ]


def key_id(public_pem: bytes) -> str:
    """The key id the API server gives ``public_pem`` (its ``kid`` in tokens and JWKS)."""
    key = serialization.load_pem_public_key(public_pem)
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def trusted_ids(bundle: bytes) -> list[str]:
    """The key ids of every public key in ``bundle``, in order."""
    return [key_id(block) for block in public_blocks(bundle)]


def jwks_ids(document: str) -> set[str]:
    """The key ids an API server's ``/openid/v1/jwks`` lists."""
    keys: Any = (json.loads(document) or {}).get("keys") or []
    return {str(k["kid"]) for k in keys if isinstance(k, dict) and k.get("kid")}


def token_key_id(token: str) -> str:
    """The ``kid`` in a JWT's header ("" when it has none)."""
    header = token.split(".", 1)[0]
    padded = header + "=" * (-len(header) % 4)
    fields: Any = json.loads(base64.urlsafe_b64decode(padded))
    return str(fields.get("kid") or "")


def public_of(private_pem: bytes) -> bytes:
    """The PEM public key of a PEM private key."""
    key = serialization.load_pem_private_key(private_pem, password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
