"""The Secret builders, field by field."""

import base64

from operators.certificates.children import (
    REVISION_ANNOTATION,
    SPEC_HASH_ANNOTATION,
    ca_secret,
    key_pair_secret,
    tls_secret,
)
from operators.certificates.model import parse
from operators.certificates.reconcile import secret_token
from tests.unit.certificates.fakes import certificate_body


def test_tls_secret() -> None:
    spec = parse(certificate_body())
    secret = tls_secret.build(
        spec, key_pem=b"KEY", certificate_pem="CERT", ca_pem="CA\n", spec_hash="h", revision=3
    )
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"]["name"] == "c1-api"
    assert secret["metadata"]["labels"] == {"g8s.io/certificate": "api"}
    assert secret["metadata"]["annotations"] == {
        SPEC_HASH_ANNOTATION: "h",
        REVISION_ANNOTATION: "3",
    }
    decoded = {k: base64.b64decode(v) for k, v in secret["data"].items()}
    assert decoded == {"tls.crt": b"CERT\n", "tls.key": b"KEY", "ca.crt": b"CA\n"}


def test_key_pair_secret() -> None:
    spec = parse(certificate_body(component="service-account"))
    secret = key_pair_secret.build(
        spec, key_pem=b"PRIV", public_pem=b"PUB", spec_hash="h", revision=1
    )
    assert secret["metadata"]["name"] == "c1-service-account"
    assert set(secret["data"]) == {"tls.key", "tls.pub"}


def test_ca_secret_has_no_key() -> None:
    secret = ca_secret.build("c1", "ns1", ca_pem="CA", operator="certificates")
    assert secret["metadata"]["name"] == "c1-ca"
    assert secret["metadata"]["namespace"] == "ns1"
    assert secret["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "g8s-certificates"
    assert secret["metadata"]["labels"]["g8s.io/cluster"] == "c1"
    assert list(secret["data"]) == ["ca.crt"]


def test_a_secrets_token_changes_with_its_data_and_never_holds_it() -> None:
    secret = {"kind": "Secret", "data": {"tls.key": "a2V5", "tls.crt": "Y2VydA=="}}
    edited = {"kind": "Secret", "data": {"tls.key": "Z2FyYmFnZQ==", "tls.crt": "Y2VydA=="}}
    assert secret_token(secret) == secret_token({**secret})
    assert secret_token(secret) != secret_token(edited)
    assert "a2V5" not in secret_token(secret)
