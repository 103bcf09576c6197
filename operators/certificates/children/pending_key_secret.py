"""Secret ``<secret>-pending-key``: the private key of a certificate being signed.

Written before Vault is asked to sign, deleted once the TLS Secret holds the
certificate. A crash in between leaves it behind, and with it the key: the
next run finds the certificate Vault signed for that key instead of signing a
second one (cert-manager keeps its "next private key" in a Secret for the same
reason).

It carries the cluster label but not the operator's managed-by label: the
operator's Secret watch must not see it, or its short life would wake its
Certificate twice per issuance.
"""

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from operators.certificates.children import REVISION_ANNOTATION, SPEC_HASH_ANNOTATION, b64
from operators.certificates.model import CertificateSpec
from shared.api import GROUP, labels
from shared.children import owner_reference

SUFFIX = "-pending-key"
NAME_LIMIT = 253
# Says what the Secret is, whatever its name; a Secret of that name without it
# is someone else's.
PENDING_LABEL = f"{GROUP}/pending-key"
KEY = "tls.key"


def name_of(secret_name: str) -> str:
    """``<secret>-pending-key``, shortened with a digest when that is too long for a name."""
    name = f"{secret_name}{SUFFIX}"
    if len(name) <= NAME_LIMIT:
        return name
    digest = hashlib.sha256(secret_name.encode()).hexdigest()[:8]
    return f"{secret_name[: NAME_LIMIT - len(SUFFIX) - 9]}-{digest}{SUFFIX}"


def build(
    spec: CertificateSpec,
    *,
    key_pem: bytes,
    spec_hash: str,
    revision: int,
    owner: Mapping[str, Any],
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": name_of(spec.secret_name),
            "namespace": spec.namespace,
            "labels": {labels.CLUSTER: spec.cluster, PENDING_LABEL: spec.component},
            "annotations": {SPEC_HASH_ANNOTATION: spec_hash, REVISION_ANNOTATION: str(revision)},
            # Collected with its Certificate even if no release ever runs.
            "ownerReferences": [owner_reference(owner)],
        },
        "data": {KEY: b64(key_pem)},
    }


@dataclass(frozen=True)
class Pending:
    """What a pending-key Secret holds: the key, and the revision and spec it was made for."""

    key_pem: bytes
    revision: int
    spec_hash: str


def is_pending_key(secret: Mapping[str, Any]) -> bool:
    return PENDING_LABEL in ((secret.get("metadata") or {}).get("labels") or {})


def read(secret: Mapping[str, Any]) -> Pending | None:
    """The pending key in ``secret``; None if it holds none that can be read."""
    annotations = (secret.get("metadata") or {}).get("annotations") or {}
    try:
        key_pem = base64.b64decode((secret.get("data") or {}).get(KEY) or "")
        revision = int(annotations.get(REVISION_ANNOTATION, ""))
    except ValueError:
        return None
    if not key_pem:
        return None
    return Pending(key_pem, revision, str(annotations.get(SPEC_HASH_ANNOTATION) or ""))
