"""Vault's Kubernetes auth method, end to end: a service-account JWT from the real
API server, reviewed by OpenBao against that API server, becomes a Vault token.

OpenBao (the environment's dev server) gets a kubernetes auth mount pointing at
the test API server; a ServiceAccount allowed to review tokens logs in through
``KubernetesAuth`` with a JWT from the TokenRequest API, then uses the token
(bounded by a policy) to build a PKI mount, and renews it. A JWT of another
ServiceAccount is refused.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from shared.api import certificates as catalogue
from shared.vault import CA, KubernetesAuth, Vault, VaultFailure
from tests.integration.certificates.openbao import request
from tests.localenv import LocalEnv

# The policy the chart ships for the operator.
POLICY = (
    Path(__file__).resolve().parents[3] / "charts" / "certificates" / "files" / "vault-policy.hcl"
).read_text()


def api_server(env: LocalEnv) -> tuple[str, str]:
    """The API server's URL and CA certificate (PEM), from the environment's kubeconfig."""
    config = yaml.safe_load(env.kubeconfig.read_text())
    cluster = config["clusters"][0]["cluster"]
    if "certificate-authority-data" in cluster:
        ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
    else:
        ca = Path(cluster["certificate-authority"]).read_text()
    return str(cluster["server"]), ca


def service_account_jwt(env: LocalEnv, namespace: str, name: str, path: Path) -> Path:
    token = env.kubectl("create", "token", name, "-n", namespace, "--duration=10m").stdout
    path.write_text(token.strip())
    return path


@pytest.fixture
def auth_mount(local_env: LocalEnv, namespace: str) -> Iterator[str]:
    """A kubernetes auth mount in OpenBao trusting the test API server."""
    addr, root = local_env.vault_addr, local_env.vault_token
    mount = f"k8s-{secrets.token_hex(3)}"
    server, ca = api_server(local_env)
    request(addr, "POST", f"sys/auth/{mount}", {"type": "kubernetes"}, token=root)
    request(
        addr,
        "POST",
        f"auth/{mount}/config",
        {"kubernetes_host": server, "kubernetes_ca_cert": ca, "disable_local_ca_jwt": True},
        token=root,
    )
    request(addr, "PUT", f"sys/policies/acl/{mount}", {"policy": POLICY}, token=root)
    request(
        addr,
        "POST",
        f"auth/{mount}/role/g8s-certificates",
        {
            "bound_service_account_names": ["g8s-certificates"],
            "bound_service_account_namespaces": [namespace],
            "token_policies": [mount],
            "token_ttl": "60s",
            "token_max_ttl": "10m",
        },
        token=root,
    )
    # The operator's ServiceAccount may review tokens: OpenBao reviews the JWT
    # it presents with that same JWT.
    for name in ("g8s-certificates", "stranger"):
        local_env.kubectl("create", "serviceaccount", name, "-n", namespace)
    local_env.kubectl(
        "create",
        "clusterrolebinding",
        f"{namespace}-token-review",
        "--clusterrole=system:auth-delegator",
        f"--serviceaccount={namespace}:g8s-certificates",
        f"--serviceaccount={namespace}:stranger",
    )
    yield mount
    local_env.kubectl("delete", "clusterrolebinding", f"{namespace}-token-review", check=False)
    request(addr, "DELETE", f"sys/auth/{mount}", token=root)


def test_login_with_a_service_account_jwt(
    local_env: LocalEnv, namespace: str, auth_mount: str, tmp_path: Path
) -> None:
    jwt = service_account_jwt(local_env, namespace, "g8s-certificates", tmp_path / "token")
    vault = Vault(local_env.vault_addr, KubernetesAuth("g8s-certificates", jwt, auth_mount))
    mount = catalogue.mount_path(namespace, "ka")
    ca = vault.ensure_pki(mount, CA("ka CA", "87600h"), max_ttl="87600h")
    assert "BEGIN CERTIFICATE" in ca
    assert mount in vault.mounts(mount)
    ttl = vault.renew_token()
    assert ttl is not None
    assert 0 < ttl <= 60
    vault.unmount(mount)


def test_other_service_account_is_refused(
    local_env: LocalEnv, namespace: str, auth_mount: str, tmp_path: Path
) -> None:
    jwt = service_account_jwt(local_env, namespace, "stranger", tmp_path / "token")
    vault = Vault(local_env.vault_addr, KubernetesAuth("g8s-certificates", jwt, auth_mount))
    with pytest.raises(VaultFailure, match="login refused") as caught:
        vault.mounts()
    assert "not authorized" in str(caught.value), caught.value
