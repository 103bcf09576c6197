"""Secret ``<c>-kubeconfig``: the admin kubeconfig of the guest cluster (data key ``value``).

The certificate material is passed through as the base64 the certificate
Secrets already hold, which is what a kubeconfig's ``*-data`` fields expect.
A kubeconfig is YAML, and JSON is YAML: ``json.dumps`` avoids templating it.
"""

import base64
import json
from typing import Any

from operators.cluster.model import ClusterSpec
from shared.api import names

KEY = "value"
USER = "admin"


def kubeconfig(spec: ClusterSpec, *, server: str, ca: str, cert: str, key: str) -> dict[str, Any]:
    context = f"{USER}@{spec.name}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": spec.name, "cluster": {"server": server, "certificate-authority-data": ca}}
        ],
        "users": [
            {"name": USER, "user": {"client-certificate-data": cert, "client-key-data": key}}
        ],
        "contexts": [{"name": context, "context": {"cluster": spec.name, "user": USER}}],
        "current-context": context,
    }


def build(spec: ClusterSpec, *, server: str, ca: str, cert: str, key: str) -> dict[str, Any]:
    text = json.dumps(kubeconfig(spec, server=server, ca=ca, cert=cert, key=key), indent=2)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": names.kubeconfig_secret(spec.name)},
        "type": "Opaque",
        "data": {KEY: base64.b64encode(text.encode()).decode()},
    }
