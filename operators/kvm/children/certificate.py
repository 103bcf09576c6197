"""Certificate ``<node>-kubelet``: the node's own kubelet identity, owned by its KVMNode.

``system:node:<node>`` in group ``system:nodes`` is what the guest API
server's Node authorizer and NodeRestriction admit for exactly this node; the
node's address is an IP SAN, so the API server can verify the kubelet it
dials for logs and exec. Deleting the KVMNode deletes the Certificate, which
revokes the certificate and drops the node's Vault role.
"""

from typing import Any

from operators.kvm.model import KVMNodeSpec
from shared.api import API_VERSION, names
from shared.api import certificates as catalogue
from shared.api.kinds import CERTIFICATE
from shared.api.labels import CERTIFICATE as CERTIFICATE_LABEL


def build(spec: KVMNodeSpec, address: str) -> dict[str, Any]:
    info = catalogue.ClusterInfo(name=spec.cluster, namespace=spec.namespace, node=spec.name)
    body = catalogue.certificate_spec(catalogue.NODE, info)
    body["ipAddresses"] = [address]
    return {
        "apiVersion": API_VERSION,
        "kind": CERTIFICATE.kind,
        "metadata": {
            "name": names.node_certificate(spec.name),
            "namespace": spec.namespace,
            "labels": {CERTIFICATE_LABEL: catalogue.NODE},
        },
        "spec": body,
    }
