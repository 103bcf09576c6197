"""OpenBao stopped and restarted in the middle of a run.

A real, non-dev OpenBao with integrated (raft) storage (initialised once,
unsealed after each start), so its mounts, CA and roles survive the restart the way a
production Vault's do; dev mode would lose them and test nothing. The operator
(a real process) issues a certificate; OpenBao is stopped; a re-issue is
requested: the Certificate goes Ready=False with reason VaultUnavailable, the
Secret stays as it was; OpenBao comes back sealed (VaultUnavailable, the
message now saying sealed rather than unreachable),
is unsealed, and the operator recovers on its own: a new revision signed by the
same CA as before.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from shared.api import conditions as c
from tests.integration.certificates.conftest import operator_env, release_all
from tests.integration.certificates.helpers import (
    apply,
    certificate,
    condition,
    get,
    secret_data,
    wait_ready,
)
from tests.integration.certificates.openbao import PersistentBao
from tests.localenv import LocalEnv
from tests.operators import running_operator, wait_for


@pytest.fixture
def bao(tmp_path: Path) -> Iterator[PersistentBao]:
    server = PersistentBao(tmp_path / "bao")
    server.start()
    try:
        server.initialize()
        server.unseal()
        yield server
    finally:
        server.stop()


def unavailable(env: LocalEnv, name: str, namespace: str) -> Mapping[str, Any] | None:
    obj = get(env, "certificates.g8s.io", name, namespace)
    ready = condition(obj, c.READY)
    if ready.get("status") == c.FALSE and ready.get("reason") == "VaultUnavailable":
        return ready
    return None


def test_vault_outage_and_recovery(
    local_env: LocalEnv, namespace: str, bao: PersistentBao, tmp_path: Path
) -> None:
    env = {**local_env.env(), **operator_env(bao.addr, bao.root_token, G8S_VAULT_TIMEOUT="2")}
    with running_operator("certificates", env=env, namespace=namespace, log_dir=tmp_path) as op:
        try:
            outage_and_recovery(local_env, namespace, bao)
            assert op.process.poll() is None
        except BaseException:
            print("--- certificates operator log (last 80 lines) ---")
            print("\n".join(op.log().splitlines()[-80:]))
            raise
        finally:
            release_all(local_env, namespace)


def outage_and_recovery(local_env: LocalEnv, namespace: str, bao: PersistentBao) -> None:
    apply(
        local_env,
        certificate("o1-admin", namespace, "o1", "admin", ttl="1h", renewBefore="10m"),
    )
    wait_ready(local_env, "o1-admin", namespace)
    before = secret_data(local_env, "o1-admin", namespace)

    bao.stop()
    # A changed TTL needs a new certificate, hence Vault.
    apply(
        local_env,
        certificate("o1-admin", namespace, "o1", "admin", ttl="2h", renewBefore="10m"),
    )
    ready = wait_for(
        lambda: unavailable(local_env, "o1-admin", namespace),
        timeout=30,
        what="Ready=False VaultUnavailable while OpenBao is down",
    )
    assert "cannot reach Vault" in str(ready["message"])
    obj = get(local_env, "certificates.g8s.io", "o1-admin", namespace)
    assert obj is not None
    assert obj["status"]["failedAttempts"] >= 1
    assert obj["status"]["nextAttemptTime"]
    assert condition(obj, c.ISSUING)["status"] == c.TRUE
    assert secret_data(local_env, "o1-admin", namespace) == before, "Secret kept as it was"

    bao.start()  # sealed after a restart

    def refused_as_sealed() -> Mapping[str, Any] | None:
        # Only an answering, sealed OpenBao gives this message: "down" says "cannot reach".
        ready = unavailable(local_env, "o1-admin", namespace)
        return ready if ready and "sealed" in str(ready["message"]) else None

    sealed = wait_for(refused_as_sealed, timeout=60, what="VaultUnavailable because sealed")
    assert "cannot reach" not in str(sealed["message"])
    assert secret_data(local_env, "o1-admin", namespace) == before
    bao.unseal()

    obj = wait_ready(local_env, "o1-admin", namespace, revision=2, timeout=60)
    after = secret_data(local_env, "o1-admin", namespace)
    assert after["ca.crt"] == before["ca.crt"], "the CA survived the restart"
    cert = x509.load_pem_x509_certificate(after["tls.crt"])
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(after["ca.crt"]))
    assert obj["status"]["failedAttempts"] == 0
    assert "nextAttemptTime" not in obj["status"]
