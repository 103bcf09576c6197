"""Short-lived certificates (``onExpiry: Delete``, what `g8s kubeconfig --ttl` asks for)
against the certificates operator as a process, the real API server and OpenBao.

Covered: a 25 s certificate in a Secret of its own, signed by the cluster's CA,
ending 25 s after its Certificate's creation, is never renewed and is deleted
with its Secret at its end, leaving the cluster's own admin certificate alone;
one deleted before its end is revoked (in the CRL); a Certificate naming the
Secret another Certificate writes is refused (SecretTaken) and its deletion
revokes nothing of the other's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cryptography import x509

from shared.api import certificates as catalogue
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


def revoked(vault: Vault, mount: str, cert: x509.Certificate) -> bool:
    crl = x509.load_pem_x509_crl(vault.crl(mount).encode())
    return crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None


def short_lived(name: str, namespace: str, cluster: str, ttl: str) -> dict[str, Any]:
    body = certificate(name, namespace, cluster, "admin", ttl=ttl)
    body["spec"] |= {"secretName": name, "onExpiry": "Delete"}
    body["spec"].pop("renewBefore", None)
    return body


def test_a_short_lived_certificate_is_deleted_at_its_end(
    local_env: LocalEnv, namespace: str, operator: RunningOperator
) -> None:
    apply(local_env, certificate("s1-admin", namespace, "s1", "admin", ttl="1h", renewBefore="10m"))
    wait_ready(local_env, "s1-admin", namespace)
    admin_serial = leaf(secret_data(local_env, "s1-admin", namespace)).serial_number
    apply(local_env, short_lived("s1-kubeconfig-a", namespace, "s1", "25s"))
    ready = wait_ready(local_env, "s1-kubeconfig-a", namespace)
    created = datetime.fromisoformat(ready["metadata"]["creationTimestamp"])
    cert = leaf(secret_data(local_env, "s1-kubeconfig-a", namespace))
    ca = x509.load_pem_x509_certificate(secret_data(local_env, "s1-ca", namespace)["ca.crt"])
    cert.verify_directly_issued_by(ca)
    assert abs((cert.not_valid_after_utc - created).total_seconds() - 25) <= 2
    assert "never renewed" in condition(ready, "Ready")["message"]
    wait_for(
        lambda: get(local_env, "certificates.g8s.io", "s1-kubeconfig-a", namespace) is None,
        timeout=90,
        what="the short-lived Certificate deleted at its end",
    )
    assert get(local_env, "secret", "s1-kubeconfig-a", namespace) is None
    # Never renewed before that: one revision only was written.
    assert ready["status"]["revision"] == 1
    # The cluster's own admin certificate is untouched.
    assert leaf(secret_data(local_env, "s1-admin", namespace)).serial_number == admin_serial


def test_deleted_early_it_is_revoked_and_a_taken_secret_is_refused(
    local_env: LocalEnv, namespace: str, operator: RunningOperator, vault: Vault
) -> None:
    mount = catalogue.mount_path(namespace, "s2")
    apply(local_env, certificate("s2-admin", namespace, "s2", "admin", ttl="1h", renewBefore="10m"))
    wait_ready(local_env, "s2-admin", namespace)
    apply(local_env, short_lived("s2-kubeconfig-b", namespace, "s2", "1h"))
    wait_ready(local_env, "s2-kubeconfig-b", namespace)
    cert = leaf(secret_data(local_env, "s2-kubeconfig-b", namespace))

    thief = short_lived("s2-thief", namespace, "s2", "1h")
    thief["spec"]["secretName"] = "s2-kubeconfig-b"
    apply(local_env, thief)

    def refused() -> bool:
        ready = condition(get(local_env, "certificates.g8s.io", "s2-thief", namespace), "Ready")
        return ready.get("reason") == "SecretTaken"

    wait_for(refused, timeout=60, what="SecretTaken")
    local_env.kubectl("delete", "certificates.g8s.io", "s2-thief", "-n", namespace)
    assert not revoked(vault, mount, cert)
    assert leaf(secret_data(local_env, "s2-kubeconfig-b", namespace)).serial_number == (
        cert.serial_number
    )

    local_env.kubectl("delete", "certificates.g8s.io", "s2-kubeconfig-b", "-n", namespace)
    assert revoked(vault, mount, cert)
    assert get(local_env, "secret", "s2-kubeconfig-b", namespace) is None
    assert mount in vault.mounts(mount)
