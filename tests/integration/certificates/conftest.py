"""Fixtures of the certificates integration tests.

``crds`` (tests/conftest.py): the Certificate CRD installed in the test environment's
API server. ``namespace``: a fresh namespace per test. ``operator``: the
certificates operator as a real process (``python -m operators.certificates``)
watching that namespace, with the environment's dev OpenBao as its Vault
(token auth); its log is printed when a test fails. ``vault``: our Vault
adapter on the same OpenBao, for assertions on mounts and CRLs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.vault import TokenAuth, Vault
from tests.localenv import LocalEnv
from tests.operators import RunningOperator, running_operator

# Fast retries and renewal checks so the tests take seconds, not minutes.
FAST = {
    "G8S_RETRY_DELAY": "1",
    "G8S_MAX_RETRY_DELAY": "4",
    "G8S_RENEWAL_CHECK_INTERVAL": "1",
    "G8S_LOG_LEVEL": "INFO",
}


def operator_env(vault_addr: str, vault_token: str, **extra: str) -> dict[str, str]:
    return {**FAST, "G8S_VAULT_ADDR": vault_addr, "G8S_VAULT_TOKEN": vault_token, **extra}


@pytest.fixture
def operator(
    request: pytest.FixtureRequest, local_env: LocalEnv, namespace: str, tmp_path: Path
) -> Iterator[RunningOperator]:
    env = {**local_env.env(), **operator_env(local_env.vault_addr, local_env.vault_token)}
    with running_operator("certificates", env=env, namespace=namespace, log_dir=tmp_path) as op:
        yield op
        show_log_on_failure(request, op)
        release_all(local_env, namespace)


def release_all(env: LocalEnv, namespace: str) -> None:
    """Delete the test's Certificates while the operator still runs, so Vault is left clean."""
    env.kubectl(
        "delete", "certificates.g8s.io", "--all", "-n", namespace, "--timeout=60s", check=False
    )


def show_log_on_failure(request: pytest.FixtureRequest, op: RunningOperator) -> None:
    report = getattr(request.node, "rep_call", None)
    if report is None or report.failed:
        print(f"--- {op.name} operator log (last 80 lines) ---")
        print("\n".join(op.log().splitlines()[-80:]))


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def vault(local_env: LocalEnv) -> Vault:
    token = local_env.vault_token
    return Vault(local_env.vault_addr, TokenAuth(lambda: token))
