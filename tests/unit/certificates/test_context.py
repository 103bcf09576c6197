"""Operator settings from the environment, and the choice of Vault authentication."""

from pathlib import Path
from typing import Any, cast

import pytest

from operators.certificates.context import load_settings, secret_token, vault_auth
from shared.settings import SettingsError
from shared.vault import KubernetesAuth, TokenAuth
from tests.unit.certificates.fakes import FakeKube

NO_KUBE = cast(Any, None)


def test_vault_variables_are_fallbacks() -> None:
    settings = load_settings({"VAULT_ADDR": "http://v:8200", "VAULT_TOKEN": "t"})
    assert settings.vault_addr == "http://v:8200"
    assert settings.vault_token == "t"
    own = load_settings({"VAULT_ADDR": "http://v:8200", "G8S_VAULT_ADDR": "http://mine:8200"})
    assert own.vault_addr == "http://mine:8200"


@pytest.mark.parametrize(
    ("environ", "words"),
    [
        ({}, "G8S_VAULT_ADDR"),
        ({"G8S_VAULT_ADDR": "x", "G8S_VAULT_AUTH": "ldap"}, "G8S_VAULT_AUTH"),
        ({"G8S_VAULT_ADDR": "x", "G8S_PKI_MAX_TTL": "ten days"}, "G8S_PKI_MAX_TTL"),
        ({"G8S_VAULT_ADDR": "x", "G8S_VAULT_PARALLELISM": "0"}, "G8S_VAULT_PARALLELISM"),
    ],
)
def test_bad_settings_fail_at_start(environ: dict[str, str], words: str) -> None:
    with pytest.raises((SettingsError, ValueError), match=words):
        load_settings(environ)


def test_token_sources(tmp_path: Path) -> None:
    direct = vault_auth(load_settings({"G8S_VAULT_ADDR": "x", "G8S_VAULT_TOKEN": "t1"}), NO_KUBE)
    assert isinstance(direct, TokenAuth)
    assert direct.token(None) == ("t1", None)

    path = tmp_path / "token"
    path.write_text("t2\n")
    from_file = vault_auth(
        load_settings({"G8S_VAULT_ADDR": "x", "G8S_VAULT_TOKEN_FILE": str(path)}), NO_KUBE
    )
    assert from_file.token(None) == ("t2", None)
    path.write_text("t3\n")  # a rotated token file is read again
    assert from_file.token(None) == ("t3", None)


def test_token_from_a_secret() -> None:
    kube = FakeKube()
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "vault", "namespace": "ops"},
            "data": {"token": "dDQ="},
        }
    )
    read = secret_token(cast(Any, kube), "ops/vault")
    assert read() == "t4"
    with pytest.raises(SettingsError, match="namespace"):
        secret_token(cast(Any, kube), "just-a-name")


def test_kubernetes_auth_is_chosen() -> None:
    auth = vault_auth(
        load_settings(
            {
                "G8S_VAULT_ADDR": "x",
                "G8S_VAULT_AUTH": "kubernetes",
                "G8S_VAULT_KUBERNETES_ROLE": "r",
                "G8S_VAULT_JWT_FILE": "/jwt",
            }
        ),
        NO_KUBE,
    )
    assert isinstance(auth, KubernetesAuth)
    assert auth.role == "r"
    assert auth.jwt_path == Path("/jwt")


def test_no_token_is_an_error() -> None:
    with pytest.raises(SettingsError, match="no Vault token"):
        vault_auth(load_settings({"G8S_VAULT_ADDR": "x"}), NO_KUBE)
