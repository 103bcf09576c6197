"""Scenario 8, Vault's side: the operator's policy reaches only PKI mounts, and each
cluster's mount signs only for that cluster.

Two Clusters are made by the operators. Then, with a token holding only the
policy the chart ships (charts/certificates/files/vault-policy.hcl, what
docs/operators/certificates.md tells platform teams to grant), everything
outside ``pki-*`` is refused by OpenBao: writing a policy, mounting another
secrets engine, enabling an auth method, reading the audit devices, making
a token, listing tokens, sealing. With the same token, one cluster's mount
refuses to sign the other cluster's names (its roles allow only its own).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
import requests

from operators.certificates import keys
from shared.api import certificates as catalogue
from shared.api import names
from shared.vault import TokenAuth, Vault, VaultRefused
from tests.e2e.cluster.helpers import apply, cluster
from tests.localenv import LocalEnv
from tests.operators import wait_for
from tests.reliability.faults import Summary, clusters, ready, supervised

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "charts" / "certificates" / "files" / "vault-policy.hcl"
LEFT, RIGHT = "left", "right"
FORBIDDEN = 403
# Outside the policy: each must be refused.
OUTSIDE = (
    ("PUT", "sys/policies/acl/g8s-takeover", {"policy": 'path "*" { capabilities = ["sudo"] }'}),
    ("POST", "sys/mounts/kv-loot", {"type": "kv"}),
    ("POST", "sys/auth/userpass-loot", {"type": "userpass"}),
    ("GET", "sys/audit", None),
    ("POST", "auth/token/create", {"policies": ["root"]}),
    ("LIST", "auth/token/accessors", None),
    ("PUT", "sys/seal", None),
    ("DELETE", "sys/mounts/sys", None),
)


def call(addr: str, method: str, path: str, token: str, body: Any = None) -> requests.Response:
    return requests.request(
        method, f"{addr}/v1/{path}", json=body, headers={"X-Vault-Token": token}, timeout=10
    )


def test_the_operator_policy_reaches_only_pki_mounts(
    local_env: LocalEnv, namespace: str, tmp_path: Path
) -> None:
    summary = Summary("vault-scope", clusters=2)
    addr, root = local_env.vault_addr, local_env.vault_token
    with supervised(local_env, namespace, tmp_path):
        apply(local_env, cluster(LEFT, namespace, workers=0), cluster(RIGHT, namespace, workers=0))
        wait_for(
            lambda: sum(ready(c) for c in clusters(local_env, namespace).values()) == 2,
            timeout=300,
            what="both Clusters Ready",
            interval=2.0,
        )
        summary.converged = 2
        try:
            check_scope(addr, root, namespace, summary)
        finally:
            local_env.kubectl(
                "delete", "clusters.g8s.io", LEFT, RIGHT, "-n", namespace, "--timeout=300s",
                timeout=330,
            )  # fmt: skip
    summary.check()


def check_scope(addr: str, root: str, namespace: str, summary: Summary) -> None:
    policy = f"g8s-certificates-{secrets.token_hex(3)}"
    call(addr, "PUT", f"sys/policies/acl/{policy}", root, {"policy": POLICY.read_text()})
    created = call(addr, "POST", "auth/token/create", root, {"policies": [policy], "ttl": "10m"})
    token = created.json()["auth"]["client_token"]

    left = catalogue.mount_path(namespace, LEFT)
    assert call(addr, "GET", f"{left}/cert/ca", token).status_code == 200
    for method, path, body in OUTSIDE:
        answer = call(addr, method, path, token, body)
        summary.faults += 1
        if answer.status_code != FORBIDDEN:
            summary.leaked.append(f"{method} {path}: {answer.status_code}, not refused")

    vault = Vault(addr, TokenAuth(lambda: token))
    key = keys.new_key("ECDSAP256")
    for role, foreign in (
        ("etcd-server", names.etcd_client_service(RIGHT)),
        ("etcd-peer", names.etcd_peer_service(RIGHT)),
    ):
        summary.faults += 1
        with pytest.raises(VaultRefused):
            vault.sign(
                left,
                role,
                keys.csr_pem(key, foreign),
                common_name=foreign,
                dns_names=(),
                ip_addresses=(),
                ttl="1h",
            )
