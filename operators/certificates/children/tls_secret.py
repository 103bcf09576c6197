"""Secret ``<cluster>-<component>``: type kubernetes.io/tls with key, certificate and CA."""

from typing import Any

from operators.certificates.children import REVISION_ANNOTATION, SPEC_HASH_ANNOTATION, b64
from operators.certificates.model import CertificateSpec
from shared.api import labels


def build(
    spec: CertificateSpec,
    *,
    key_pem: bytes,
    certificate_pem: str,
    ca_pem: str,
    spec_hash: str,
    revision: int,
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {
            "name": spec.secret_name,
            "labels": {labels.CERTIFICATE: spec.component},
            "annotations": {SPEC_HASH_ANNOTATION: spec_hash, REVISION_ANNOTATION: str(revision)},
        },
        "data": {
            "tls.crt": b64(certificate_pem.strip() + "\n"),
            "tls.key": b64(key_pem),
            "ca.crt": b64(ca_pem.strip() + "\n"),
        },
    }
