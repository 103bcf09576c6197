"""The certificates operator's part of a CA rotation, as a process, against the real API
server and OpenBao: each phase asked with the annotation is made in Vault, delivered in
every Secret and reported in the Certificate's status."""

from __future__ import annotations

from functools import partial
from typing import Any

from shared.api import carotation
from shared.api import certificates as catalogue
from shared.vault import ROOT_ISSUER, Vault
from tests.integration.certificates.helpers import (
    apply,
    certificate,
    get,
    secret_data,
    wait_ready,
)
from tests.localenv import LocalEnv
from tests.operators import RunningOperator, wait_for

NAMES = ("k1-api", "k1-admin", "k1-service-account")


def ask(env: LocalEnv, namespace: str, phase: str) -> None:
    value = carotation.Phase(phase, "r1").text()
    for name in NAMES:
        env.kubectl(
            "annotate", "certificates.g8s.io", name, "-n", namespace,
            f"{carotation.ROTATION_ANNOTATION}={value}", "--overwrite",
        )  # fmt: skip
    for name in NAMES:
        wait_for(
            partial(_delivered, env, namespace, name, value),
            timeout=60,
            what=f"Certificate {name} delivered under {value}",
        )


def _delivered(env: LocalEnv, namespace: str, name: str, value: str) -> dict[str, Any] | None:
    found = get(env, "certificates.g8s.io", name, namespace)
    return found if found and (found.get("status") or {}).get("caRotation") == value else None


def trusted(env: LocalEnv, namespace: str, secret: str) -> list[bytes]:
    return carotation.certificates_of(secret_data(env, secret, namespace)["ca.crt"])


def signer(env: LocalEnv, namespace: str, secret: str) -> bytes | None:
    data = secret_data(env, secret, namespace)
    return carotation.signer_of(data["tls.crt"], [data["ca.crt"]])


def fresh(vault: Vault, mount: str) -> Vault:
    """The adapter keeps what it learnt of a mount's issuers for its process (only the
    operator changes them); the test looks from outside, so it asks Vault again."""
    vault.forget(mount)
    return vault


def test_a_ca_rotation_trusts_then_reissues_then_drops(
    local_env: LocalEnv, namespace: str, operator: RunningOperator, vault: Vault
) -> None:
    lifetime = {"ttl": "2h", "renewBefore": "30m"}
    wanted = [certificate(n, namespace, "k1", n.removeprefix("k1-"), **lifetime) for n in NAMES]
    apply(local_env, *wanted)
    for name in NAMES:
        wait_ready(local_env, name, namespace)
    mount = catalogue.mount_path(namespace, "k1")
    (old,) = trusted(local_env, namespace, "k1-api")
    serial = secret_data(local_env, "k1-api", namespace)["tls.crt"]
    key_pair = secret_data(local_env, "k1-service-account", namespace)

    ask(local_env, namespace, carotation.TRUSTED)
    new_name = carotation.issuer_name("r1")
    (new,) = carotation.certificates_of(fresh(vault, mount).issuers(mount)[new_name].encode())
    for secret in ("k1-api", "k1-admin", "k1-ca"):
        assert trusted(local_env, namespace, secret) == [old, new], secret
    assert secret_data(local_env, "k1-api", namespace)["tls.crt"] == serial  # not issued
    assert fresh(vault, mount).default_issuer(mount) == ROOT_ISSUER

    ask(local_env, namespace, carotation.REISSUED)
    for secret in ("k1-api", "k1-admin"):
        assert signer(local_env, namespace, secret) == new, secret
        assert trusted(local_env, namespace, secret) == [old, new], secret
    assert fresh(vault, mount).default_issuer(mount) == new_name

    ask(local_env, namespace, carotation.DROPPED)
    for secret in ("k1-api", "k1-admin", "k1-ca"):
        assert trusted(local_env, namespace, secret) == [new], secret
        if secret != "k1-ca":
            assert signer(local_env, namespace, secret) == new, secret
    assert list(fresh(vault, mount).issuers(mount)) == [new_name]
    assert secret_data(local_env, "k1-service-account", namespace) == key_pair
