"""Secret ``<cluster>-ca``: the cluster's CA certificate, never its key (Vault keeps it).

Every Certificate of the cluster writes the same content; the Secret has no
owner reference because it outlives any one Certificate: it is deleted with the
PKI mount when the cluster's last Certificate goes.
"""

from typing import Any

from operators.certificates.children import b64
from shared.api import labels, names


def build(cluster: str, namespace: str, *, ca_pem: str, operator: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": names.ca_secret(cluster),
            "namespace": namespace,
            "labels": {**labels.standard_labels(operator, cluster), labels.CERTIFICATE: "ca"},
        },
        "data": {"ca.crt": b64(ca_pem.strip() + "\n")},
    }
