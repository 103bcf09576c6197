"""Secret ``<cluster>-service-account``: a key pair without a certificate.

The API server verifies service-account tokens with the public key and the
controller manager signs them with the private key; no CA is involved.
"""

from typing import Any

from operators.certificates.children import REVISION_ANNOTATION, SPEC_HASH_ANNOTATION, b64
from operators.certificates.model import CertificateSpec
from shared.api import certificates as catalogue
from shared.api import labels


def build(
    spec: CertificateSpec, *, key_pem: bytes, public_pem: bytes, spec_hash: str, revision: int
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": spec.secret_name,
            "labels": {labels.CERTIFICATE: spec.component},
            "annotations": {SPEC_HASH_ANNOTATION: spec_hash, REVISION_ANNOTATION: str(revision)},
        },
        "data": {catalogue.PRIVATE_KEY: b64(key_pem), catalogue.PUBLIC_KEY: b64(public_pem)},
    }
