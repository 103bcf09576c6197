"""shared.vault against a real OpenBao (the environment's dev server).

Covers: a mount's root CA is created once and kept; a mount and role made
sure of are not asked for again until a request on the mount fails; a role signs only its own
names (cluster A's role refuses a name of cluster B); a signed leaf chains to
the mount's CA and is stored (listed with the CA); revocation by PEM appears in
the mount's CRL; a second issuer signs once it is the default and can be
retired; unmount leaves no mount; an unreachable Vault is
``VaultUnavailable``; a renewable token is renewed.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography import x509

from operators.certificates import keys
from shared.api import carotation
from shared.api import certificates as catalogue
from shared.vault import (
    CA,
    ROOT_ISSUER,
    Issued,
    Role,
    TokenAuth,
    Vault,
    VaultFailure,
    VaultRefused,
    VaultUnavailable,
)
from tests.integration.certificates.openbao import request
from tests.localenv import LocalEnv


def role_for(profile: catalogue.Profile) -> Role:
    return Role(
        name=profile.component,
        allowed_names=(profile.common_name, *profile.dns_names),
        organizations=profile.organizations,
        key_usages=profile.key_usages,
        server=profile.server,
        client=profile.client,
        max_ttl="8760h",
        allow_ip_sans=True,
    )


def sign_for(vault: Vault, mount: str, profile: catalogue.Profile, key: keys.PrivateKey) -> Issued:
    """A 1 h certificate of ``profile``'s names for ``key``, signed by ``mount``."""
    return vault.sign(
        mount,
        profile.component,
        keys.csr_pem(key, profile.common_name),
        common_name=profile.common_name,
        dns_names=profile.dns_names,
        ip_addresses=profile.ip_addresses,
        ttl="1h",
    )


@pytest.fixture
def cluster_pki(vault: Vault) -> Iterator[tuple[str, catalogue.ClusterInfo]]:
    """A fresh cluster's mount with its CA; unmounted afterwards."""
    suffix = secrets.token_hex(3)
    info = catalogue.ClusterInfo(f"a{suffix}", "adapter", f"a{suffix}.example", "172.31.0.0/16")
    mount = catalogue.mount_path(info.namespace, info.name)
    vault.ensure_pki(mount, CA(f"{info.name} CA", "87600h"), max_ttl="87600h")
    yield mount, info
    vault.unmount(mount)


def test_root_ca_is_created_once(
    vault: Vault, cluster_pki: tuple[str, catalogue.ClusterInfo]
) -> None:
    mount, _ = cluster_pki
    first = vault.ca_certificate(mount)
    again = vault.ensure_pki(mount, CA("another CA", "87600h"), max_ttl="87600h")
    assert first
    assert again == first


def test_leaf_chains_to_the_ca_and_revocation_reaches_the_crl(
    vault: Vault, cluster_pki: tuple[str, catalogue.ClusterInfo]
) -> None:
    mount, info = cluster_pki
    profile = catalogue.profile(catalogue.API, info)
    vault.ensure_role(mount, role_for(profile))
    key = keys.new_key(catalogue.ECDSA_P256)
    issued = sign_for(vault, mount, profile, key)
    cert = x509.load_pem_x509_certificate(issued.certificate.encode())
    ca = x509.load_pem_x509_certificate(vault.ca_certificate(mount).encode())
    cert.verify_directly_issued_by(ca)
    assert keys.serial_text(cert.serial_number) == issued.serial_number
    assert cert.public_key() == key.public_key()

    stored = list(vault.signed_certificates(mount))
    assert issued.certificate in stored  # kept, for a crash before the Secret's write
    assert vault.ca_certificate(mount) in stored

    vault.revoke(mount, issued.certificate)
    crl = x509.load_pem_x509_crl(vault.crl(mount).encode())
    assert crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    vault.revoke(mount, issued.certificate)  # twice is fine

    vault.unmount(mount)
    assert mount not in vault.mounts(mount)


def test_a_second_issuer_signs_only_once_it_is_the_default_and_can_be_retired(
    vault: Vault, cluster_pki: tuple[str, catalogue.ClusterInfo]
) -> None:
    """The issuer operations of a CA rotation: a new root beside the first, made once;
    signing moves with the default; the retired root is gone and the new one signs."""
    mount, info = cluster_pki
    first = vault.ca_certificate(mount)
    # What the adapter took as known when it made the root is what Vault says.
    known = (vault.issuers(mount), vault.default_issuer(mount))
    vault.forget(mount)
    assert (vault.issuers(mount), vault.default_issuer(mount)) == known
    assert known == ({ROOT_ISSUER: first}, ROOT_ISSUER)
    profile = catalogue.profile(catalogue.API, info)
    vault.ensure_role(mount, role_for(profile))
    name = carotation.issuer_name("rotation-1")
    new = vault.ensure_issuer(mount, name, CA(f"{info.name} CA", "87600h"))
    assert vault.ensure_issuer(mount, name, CA("another CA", "87600h")) == new
    assert vault.issuers(mount) == {ROOT_ISSUER: first, name: new}
    assert new != first
    assert vault.default_issuer(mount) == ROOT_ISSUER

    def signer() -> bytes | None:
        issued = sign_for(vault, mount, profile, keys.new_key(catalogue.ECDSA_P256))
        return carotation.signer_of(issued.certificate.encode(), [first.encode(), new.encode()])

    assert signer() == carotation.certificates_of(first.encode())[0]
    vault.set_default_issuer(mount, name)
    assert vault.default_issuer(mount) == name
    assert vault.ca_certificate(mount) == new
    assert vault.ensure_pki(mount, CA("x", "87600h"), max_ttl="87600h") == new
    assert signer() == carotation.certificates_of(new.encode())[0]

    vault.retire_issuer(mount, ROOT_ISSUER)
    vault.retire_issuer(mount, ROOT_ISSUER)  # twice is fine
    assert vault.issuers(mount) == {name: new}
    assert signer() == carotation.certificates_of(new.encode())[0]


def test_what_was_made_sure_of_is_not_asked_again_until_a_request_fails(
    vault: Vault,
    cluster_pki: tuple[str, catalogue.ClusterInfo],
    local_env: LocalEnv,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mount, info = cluster_pki
    first_ca = vault.ca_certificate(mount)
    profile = catalogue.profile(catalogue.API, info)
    role = role_for(profile)
    sent: list[object] = []
    call = vault._call

    def counted(fn: Callable[[Any], Any]) -> Any:
        sent.append(fn)
        return call(fn)

    monkeypatch.setattr(vault, "_call", counted)

    vault.ensure_role(mount, role)
    assert len(sent) == 1
    assert vault.ensure_pki(mount, CA("x", "87600h"), max_ttl="87600h") == first_ca
    vault.ensure_role(mount, role)
    assert len(sent) == 1  # both known: nothing asked

    # Behind this process's back, another client removes the role, then the mount.
    token = local_env.vault_token
    other = Vault(local_env.vault_addr, TokenAuth(lambda: token))
    key = keys.new_key(catalogue.ECDSA_P256)

    def sign() -> str:
        return sign_for(vault, mount, profile, key).issuing_ca

    other.delete_role(mount, role.name)
    with pytest.raises(VaultFailure, match="unknown role"):  # retried: not the spec's fault
        sign()
    vault.ensure_pki(mount, CA("x", "87600h"), max_ttl="87600h")
    vault.ensure_role(mount, role)
    assert sign() == first_ca

    other.unmount(mount)
    with pytest.raises(VaultFailure):
        sign()
    # The failure made the adapter forget: the mount, its CA and the role are made again.
    again = vault.ensure_pki(mount, CA(f"{info.name} CA", "87600h"), max_ttl="87600h")
    vault.ensure_role(mount, role)
    assert again
    assert again != first_ca
    assert sign() == again


def test_cluster_a_role_refuses_cluster_b_names(vault: Vault) -> None:
    suffix = secrets.token_hex(3)
    a = catalogue.ClusterInfo(f"a{suffix}", "iso", f"a{suffix}.example", "172.31.0.0/16")
    b = catalogue.ClusterInfo(f"b{suffix}", "iso", f"b{suffix}.example", "172.31.0.0/16")
    mounts = []
    for info in (a, b):
        mount = catalogue.mount_path(info.namespace, info.name)
        mounts.append(mount)
        vault.ensure_pki(mount, CA(f"{info.name} CA", "87600h"), max_ttl="87600h")
        for component in (catalogue.API, catalogue.ETCD_SERVER):
            vault.ensure_role(mount, role_for(catalogue.profile(component, info)))
    a_mount = mounts[0]
    key = keys.new_key(catalogue.ECDSA_P256)
    csr = keys.csr_pem(key, "kube-apiserver")
    for component, name in (
        (catalogue.API, f"api.{b.base_domain}"),
        (catalogue.ETCD_SERVER, f"{b.name}-etcd-0.{b.name}-etcd-peer.iso.svc"),
    ):
        with pytest.raises(VaultRefused, match="not allowed"):
            vault.sign(
                a_mount,
                component,
                csr,
                common_name="kube-apiserver" if component == catalogue.API else f"{a.name}-etcd",
                dns_names=[name],
                ip_addresses=[],
                ttl="1h",
            )
    # A's own name is fine, so the refusal above is about the name alone.
    vault.sign(
        a_mount,
        catalogue.API,
        csr,
        common_name="kube-apiserver",
        dns_names=[f"api.{a.base_domain}"],
        ip_addresses=[],
        ttl="1h",
    )
    for mount in mounts:
        vault.unmount(mount)


def test_unreachable_vault_is_unavailable() -> None:
    vault = Vault("http://127.0.0.1:9", TokenAuth(lambda: "x"), timeout=2)
    with pytest.raises(VaultUnavailable, match="cannot reach Vault"):
        vault.mounts()
    assert not vault.available()


def test_renewable_token_is_renewed(local_env: LocalEnv, vault: Vault) -> None:
    created = request(  # a child token with a short, renewable TTL
        local_env.vault_addr,
        "POST",
        "auth/token/create",
        {"policies": ["default"], "ttl": "60s", "renewable": True},
        token=local_env.vault_token,
    )
    child = str(created["auth"]["client_token"])
    user = Vault(local_env.vault_addr, TokenAuth(lambda: child))
    ttl = user.renew_token()
    assert ttl is not None
    assert 0 < ttl <= 60
    assert vault.available()
