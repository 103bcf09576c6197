"""A certificates operator killed after Vault signed, before the TLS Secret was written.

Real processes throughout: the API server refuses the TLS Secret's write (a
ValidatingAdmissionPolicy, the way an admission webhook or an outage would),
so the operator has a signed certificate and nowhere to put it; it is then
SIGKILLed, the policy removed, and a new operator process started. It must
deliver the certificate Vault signed for the key kept in the pending-key
Secret. Vault's audit log counts the signatures: one.

Also: the adapter lists what a mount stored (leaves are stored for this).
"""

from __future__ import annotations

import base64
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.api import certificates as catalogue
from tests.integration.certificates.conftest import operator_env, release_all
from tests.integration.certificates.helpers import apply, certificate, get, wait_ready
from tests.localenv import LocalEnv
from tests.operators import RunningOperator, running_operator, wait_for
from tests.reliability.faults import signatures

POLICY = "g8s-test-refuse-tls-secret"


def refusal(namespace: str, secret: str) -> list[dict[str, object]]:
    """A policy and its binding: writes of Secret ``secret`` in ``namespace`` are refused."""
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": POLICY},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": [""],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE", "UPDATE"],
                            "resources": ["secrets"],
                        }
                    ]
                },
                "validations": [
                    {
                        "expression": f"object.metadata.name != '{secret}'",
                        "message": "held back by the test",
                        "reason": "Forbidden",
                    }
                ],
            },
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": POLICY},
            "spec": {
                "policyName": POLICY,
                "validationActions": ["Deny"],
                "matchResources": {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
                },
            },
        },
    ]


def write_refused(env: LocalEnv, namespace: str, secret: str) -> bool:
    result = env.kubectl(
        "create", "secret", "generic", secret, "-n", namespace, "--dry-run=server", check=False
    )
    return result.returncode != 0 and "held back by the test" in result.stderr


@pytest.fixture
def refused_secret(local_env: LocalEnv, namespace: str) -> Iterator[str]:
    secret = "c1-api"
    apply(local_env, *refusal(namespace, secret))
    # A policy takes effect once the API server has loaded it.
    wait_for(
        lambda: write_refused(local_env, namespace, secret) or None,
        timeout=30,
        what="the policy refusing the Secret's writes",
    )
    yield secret
    lift_refusal(local_env, namespace, secret)


def lift_refusal(env: LocalEnv, namespace: str, secret: str) -> None:
    env.kubectl("delete", "validatingadmissionpolicybinding", POLICY, "--ignore-not-found")
    env.kubectl("delete", "validatingadmissionpolicy", POLICY, "--ignore-not-found")
    wait_for(
        lambda: (not write_refused(env, namespace, secret)) or None,
        timeout=30,
        what="the policy lifted",
    )


def key_of(secret: dict[str, object] | None) -> bytes:
    data = (secret or {}).get("data") or {}
    assert isinstance(data, dict)
    return base64.b64decode(data.get("tls.key") or "")


def test_a_certificate_signed_before_a_crash_is_delivered_after_it(
    local_env: LocalEnv, namespace: str, refused_secret: str, tmp_path: Path
) -> None:
    env = {**local_env.env(), **operator_env(local_env.vault_addr, local_env.vault_token)}
    mount = catalogue.mount_path(namespace, "c1")
    pending_name = f"{refused_secret}-pending-key"
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir()
    second_dir.mkdir()

    with running_operator("certificates", env=env, namespace=namespace, log_dir=first_dir) as op:
        apply(local_env, certificate("c1-api", namespace, "c1", catalogue.API, baseDomain="c1.t"))
        wait_for(
            lambda: signatures(local_env, mount)["api"] or None,
            timeout=60,
            what="Vault's signature for c1-api",
        )
        wait_for(
            lambda: "held back by the test" in op.log() or None,
            timeout=30,
            what="the operator's refused write",
        )
        kept = key_of(get(local_env, "secret", pending_name, namespace))
        assert b"PRIVATE KEY" in kept
        assert get(local_env, "secret", refused_secret, namespace) is None
        kill(op)

    lift_refusal(local_env, namespace, refused_secret)
    with running_operator("certificates", env=env, namespace=namespace, log_dir=second_dir) as op:
        try:
            wait_ready(local_env, "c1-api", namespace)
            assert signatures(local_env, mount)["api"] == 1, "Vault signed a second certificate"
            assert key_of(get(local_env, "secret", refused_secret, namespace)) == kept
            assert get(local_env, "secret", pending_name, namespace) is None
            assert '"resumed": true' in op.log()
        except BaseException:
            print(op.log()[-6000:])
            raise
        finally:
            release_all(local_env, namespace)


def kill(op: RunningOperator) -> None:
    op.process.send_signal(signal.SIGKILL)
    op.process.wait(timeout=10)
