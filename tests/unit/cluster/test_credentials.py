"""`g8s kubeconfig --ttl`: the Certificate it asks for, and the kubeconfig it writes."""

import base64
import json
from typing import Any

import pytest

from operators.cluster import credentials
from shared.kube import ObjectRef
from tests.unit.cluster.helpers import UID, cluster_body


def test_the_request_is_a_short_lived_admin_certificate_owned_by_the_cluster() -> None:
    cert = credentials.request(cluster_body(), "30m", "abcde")
    assert cert["metadata"]["name"] == "c1-kubeconfig-abcde"
    assert cert["metadata"]["labels"] == {
        "g8s.io/cluster": "c1",
        "app.kubernetes.io/managed-by": "g8s-cli",
    }
    (owner,) = cert["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("Cluster", UID, False)
    spec = cert["spec"]
    assert (spec["component"], spec["cluster"], spec["ttl"]) == ("admin", "c1", "30m")
    assert (spec["secretName"], spec["onExpiry"]) == ("c1-kubeconfig-abcde", "Delete")
    assert "renewBefore" not in spec


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class Fake:
    """The host API as the CLI sees it; a Certificate is issued when created."""

    def __init__(self) -> None:
        admin = {"clusters": [{"cluster": {"server": "https://198.18.0.10:443"}}]}
        self.objects: dict[tuple[str, str], dict[str, Any]] = {
            ("Cluster", "c1"): cluster_body(),
            ("Secret", "c1-kubeconfig"): {"data": {"value": _b64(json.dumps(admin))}},
            ("Secret", "c1-ca"): {"data": {"ca.crt": "Q0E="}},
        }

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        return self.objects.get((ref.kind, ref.name))

    def create(self, body: Any) -> dict[str, Any]:
        name = body["metadata"]["name"]
        ready = {"type": "Ready", "status": "True"}
        self.objects[("Certificate", name)] = {
            **body,
            "status": {"conditions": [ready], "notAfter": "2030-01-01T00:30:00Z"},
        }
        self.objects[("Secret", name)] = {"data": {"tls.crt": "Q0VSVA==", "tls.key": "S0VZ"}}
        return dict(body)


def test_the_kubeconfig_carries_the_new_certificate_and_the_admin_server() -> None:
    said: list[str] = []
    text = credentials.short_lived(
        Fake(), "c1", "ns", ttl="30m", timeout=5, say=said.append, sleep=lambda _: None
    )
    config = json.loads(text)
    assert config["clusters"][0]["cluster"] == {
        "server": "https://198.18.0.10:443",
        "certificate-authority-data": "Q0E=",
    }
    assert config["users"][0]["user"] == {
        "client-certificate-data": "Q0VSVA==",
        "client-key-data": "S0VZ",
    }
    assert any("valid until 2030-01-01T00:30:00Z" in line for line in said)


def test_a_missing_cluster_or_admin_kubeconfig_is_named() -> None:
    fake = Fake()
    with pytest.raises(LookupError, match="Cluster ns/c2 not found"):
        credentials.short_lived(fake, "c2", "ns", ttl="1m", timeout=1, say=print)
    del fake.objects[("Secret", "c1-kubeconfig")]
    with pytest.raises(LookupError, match="admin kubeconfig is not written yet"):
        credentials.short_lived(fake, "c1", "ns", ttl="1m", timeout=1, say=print)
