"""Secret ``<cluster>-service-account``: a key pair without a certificate.

The API server verifies service-account tokens with the public key and the
controller manager signs them with the private key; no CA is involved.
"""

from collections.abc import Mapping
from typing import Any

from operators.certificates.children import REVISION_ANNOTATION, SPEC_HASH_ANNOTATION, b64
from operators.certificates.model import CertificateSpec
from shared.api import certificates as catalogue
from shared.api import labels


def build(
    spec: CertificateSpec, *, key_pem: bytes, public_pem: bytes, spec_hash: str, revision: int
) -> dict[str, Any]:
    data = {catalogue.PRIVATE_KEY: key_pem, catalogue.PUBLIC_KEY: public_pem}
    return build_data(spec, data=data, spec_hash=spec_hash, revision=revision)


def build_data(
    spec: CertificateSpec,
    *,
    data: Mapping[str, bytes],
    spec_hash: str,
    revision: int,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The Secret holding ``data`` (a key pair, and during a rotation the trusted
    keys and the next key: shared/api/serviceaccount.py)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": spec.secret_name,
            "labels": {labels.CERTIFICATE: spec.component},
            "annotations": {
                SPEC_HASH_ANNOTATION: spec_hash,
                REVISION_ANNOTATION: str(revision),
                **(annotations or {}),
            },
        },
        "data": {key: b64(value) for key, value in sorted(data.items())},
    }
