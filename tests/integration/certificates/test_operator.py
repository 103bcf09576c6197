"""The certificates operator as a process, against the real API server and OpenBao.

Covers: every component of the catalogue issued into its Secret (chain to
ca.crt, SANs, organisations, key usages, TTL, labels, owner, status); renewal
of a short-lived certificate with the previous one revoked (in the CRL);
revocation on deletion and removal of the cluster's PKI mount with its last
Certificate; a changed key algorithm re-issues; a TTL above the CA limit is a
condition, not a crash; a name of another cluster is refused.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shared.api import certificates as catalogue
from shared.api import conditions as c
from shared.api import labels
from shared.vault import Vault
from tests.integration.certificates.helpers import (
    apply,
    certificate,
    condition,
    get,
    leaf,
    secret_data,
    wait_ready,
)
from tests.localenv import LocalEnv
from tests.operators import RunningOperator, wait_for

EKU = {"ServerAuth": ExtendedKeyUsageOID.SERVER_AUTH, "ClientAuth": ExtendedKeyUsageOID.CLIENT_AUTH}


def revoked(vault: Vault, mount: str, cert: x509.Certificate) -> bool:
    crl = x509.load_pem_x509_crl(vault.crl(mount).encode())
    return crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None


def test_every_component_is_issued(
    local_env: LocalEnv, namespace: str, operator: RunningOperator
) -> None:
    info = catalogue.ClusterInfo("c1", namespace, "c1.g8s.test", "172.31.0.0/16")
    objects = [
        certificate(
            f"c1-{component}",
            namespace,
            "c1",
            component,
            **{
                k: v
                for k, v in catalogue.certificate_spec(
                    component, info, ttl="2h", renew_before="30m"
                ).items()
                if k not in ("cluster", "component")
            },
        )
        for component in catalogue.COMPONENTS
    ]
    apply(local_env, *objects)
    ca_pem = b""
    for component in catalogue.COMPONENTS:
        name = f"c1-{component}"
        obj = wait_ready(local_env, name, namespace)
        profile = catalogue.profile(component, info)
        secret = get(local_env, "secret", name, namespace)
        assert secret is not None
        meta = secret["metadata"]
        assert meta["labels"][labels.CERTIFICATE] == component
        assert meta["labels"][labels.CLUSTER] == "c1"
        assert meta["labels"][labels.MANAGED_BY] == "g8s-certificates"
        assert meta["ownerReferences"][0]["uid"] == obj["metadata"]["uid"]
        data = secret_data(local_env, name, namespace)
        key = serialization.load_pem_private_key(data["tls.key"], password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        if profile.key_pair_only:
            assert secret["type"] == "Opaque"
            public = serialization.load_pem_public_key(data["tls.pub"])
            assert public == key.public_key()
            assert "tls.crt" not in data
            continue
        assert secret["type"] == "kubernetes.io/tls"
        cert = leaf(data)
        ca = x509.load_pem_x509_certificate(data["ca.crt"])
        cert.verify_directly_issued_by(ca)
        ca_pem = ca_pem or data["ca.crt"]
        assert data["ca.crt"] == ca_pem, "every certificate of a cluster has the same CA"
        assert cert.public_key() == key.public_key()
        cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        assert cn == profile.common_name
        orgs = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
        assert sorted(orgs) == sorted(profile.organizations)
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            dns = set(san.get_values_for_type(x509.DNSName))
            ips = {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
        except x509.ExtensionNotFound:
            dns, ips = set(), set()
        assert dns == set(profile.dns_names), component
        assert ips == set(profile.ip_addresses), component
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        assert usage.digital_signature
        assert not usage.key_cert_sign
        eku = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
        assert eku == {EKU[u] for u in profile.ext_key_usages}, component
        # A leaf without basic constraints is not a CA either.
        with contextlib.suppress(x509.ExtensionNotFound):
            assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        left = cert.not_valid_after_utc - datetime.now(UTC)
        assert timedelta(hours=2) - timedelta(minutes=2) < left <= timedelta(hours=2), left
        status = obj["status"]
        assert int(status["serialNumber"].replace(":", ""), 16) == cert.serial_number
        assert status["notAfter"] == cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert status["revision"] == 1
        assert condition(obj, c.ISSUING)["status"] == c.FALSE
    ca_secret = secret_data(local_env, "c1-ca", namespace)
    assert ca_secret == {"ca.crt": ca_pem}


def test_renewal_revokes_and_deletion_removes_the_pki(
    local_env: LocalEnv, namespace: str, operator: RunningOperator, vault: Vault
) -> None:
    mount = catalogue.mount_path(namespace, "r1")
    apply(
        local_env,
        certificate("r1-admin", namespace, "r1", "admin", ttl="30s", renewBefore="20s"),
    )
    wait_ready(local_env, "r1-admin", namespace)
    first = leaf(secret_data(local_env, "r1-admin", namespace))
    renewed = wait_ready(local_env, "r1-admin", namespace, revision=2, timeout=60)
    second = leaf(secret_data(local_env, "r1-admin", namespace))
    assert second.serial_number != first.serial_number
    assert renewed["status"]["notAfter"] > first.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    wait_for(lambda: revoked(vault, mount, first), timeout=20, what="first serial in the CRL")

    local_env.kubectl("delete", "certificates.g8s.io", "r1-admin", "-n", namespace, "--wait=false")
    wait_for(
        lambda: get(local_env, "certificates.g8s.io", "r1-admin", namespace) is None,
        timeout=60,
        what="Certificate r1-admin gone",
    )
    assert mount not in vault.mounts(mount), "the last Certificate's deletion removes the mount"
    assert get(local_env, "secret", "r1-ca", namespace) is None


def test_revocation_on_deletion_keeps_the_mount_for_the_others(
    local_env: LocalEnv, namespace: str, operator: RunningOperator, vault: Vault
) -> None:
    mount = catalogue.mount_path(namespace, "d1")
    apply(
        local_env,
        certificate("d1-admin", namespace, "d1", "admin", ttl="1h", renewBefore="10m"),
        certificate("d1-calico", namespace, "d1", "calico", ttl="1h", renewBefore="10m"),
    )
    wait_ready(local_env, "d1-admin", namespace)
    wait_ready(local_env, "d1-calico", namespace)
    cert = leaf(secret_data(local_env, "d1-admin", namespace))
    local_env.kubectl("delete", "certificates.g8s.io", "d1-admin", "-n", namespace)
    assert revoked(vault, mount, cert)
    assert mount in vault.mounts(mount)
    assert get(local_env, "secret", "d1-ca", namespace) is not None


def test_a_cluster_named_at_the_length_limit_gets_its_ca(
    local_env: LocalEnv, namespace: str, operator: RunningOperator
) -> None:
    # 36 characters, the longest Cluster name: with the namespace in the CA's
    # common name it went over X.509's 64, and Vault refused to make the CA.
    cluster = "a" * 35 + "z"
    name = f"{cluster}-admin"
    apply(local_env, certificate(name, namespace, cluster, "admin", ttl="1h", renewBefore="10m"))
    wait_ready(local_env, name, namespace)
    ca = x509.load_pem_x509_certificate(
        secret_data(local_env, f"{cluster}-ca", namespace)["ca.crt"]
    )
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == f"{cluster} CA"
    unit = ca.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value
    assert unit == namespace


def test_changed_key_algorithm_reissues(
    local_env: LocalEnv, namespace: str, operator: RunningOperator
) -> None:
    apply(local_env, certificate("k1-admin", namespace, "k1", "admin", ttl="1h", renewBefore="10m"))
    wait_ready(local_env, "k1-admin", namespace)
    apply(
        local_env,
        certificate(
            "k1-admin",
            namespace,
            "k1",
            "admin",
            ttl="1h",
            renewBefore="10m",
            keyAlgorithm="RSA2048",
        ),
    )
    obj = wait_ready(local_env, "k1-admin", namespace, revision=2)
    key = serialization.load_pem_private_key(
        secret_data(local_env, "k1-admin", namespace)["tls.key"], password=None
    )
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048
    assert condition(obj, c.READY)["reason"] == "Issued"


@pytest.mark.parametrize(
    ("spec", "reason", "words"),
    [
        ({"ttl": "9000h"}, "TTLExceedsLimit", "8760h"),
        (
            {"baseDomain": "t1.g8s.test", "dnsNames": ["api.other.g8s.test"]},
            "NameOutsideCluster",
            "api.other.g8s.test",
        ),
    ],
)
def test_refused_spec_is_a_condition(  # noqa: PLR0917 - fixtures and parameters
    local_env: LocalEnv,
    namespace: str,
    operator: RunningOperator,
    spec: dict[str, object],
    reason: str,
    words: str,
) -> None:
    apply(local_env, certificate("t1-api", namespace, "t1", "api", **spec))

    def refused() -> Mapping[str, Any] | None:
        obj = get(local_env, "certificates.g8s.io", "t1-api", namespace)
        ready = condition(obj, c.READY)
        return ready if ready.get("reason") == reason else None

    ready = wait_for(refused, timeout=30, what=f"Ready=False {reason}")
    assert ready["status"] == c.FALSE
    assert words in str(ready["message"])
    assert get(local_env, "secret", "t1-api", namespace) is None
    assert operator.process.poll() is None, "the operator must not crash on bad input"
