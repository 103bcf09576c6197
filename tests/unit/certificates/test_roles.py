"""Vault roles (shared.vault.Role): a hostname common name is checked by Vault against
the role's names; a Kubernetes identity, which Vault cannot check, is not; no
role ever allows subdomains, globs or any name."""

from shared.vault import Role


def role(common_name: str) -> Role:
    return Role(
        name="r",
        allowed_names=(common_name, "left-etcd-0"),
        organizations=(),
        key_usages=("DigitalSignature",),
        server=True,
        client=True,
        max_ttl="1h",
        allow_ip_sans=False,
        common_name=common_name,
    )


def test_a_hostname_common_name_is_checked_against_the_allowed_names() -> None:
    for name in ("left-etcd", "kube-apiserver", "admin", "a.b.c"):
        assert role(name).body()["cn_validations"] == ["hostname"], name


def test_a_kubernetes_identity_cannot_be_checked_by_vault() -> None:
    for name in ("system:node:left-cp-abcde", "system:kube-scheduler", "", "Left"):
        assert role(name).body()["cn_validations"] == ["disabled"], name


def test_no_role_allows_more_than_its_names() -> None:
    body = role("left-etcd").body()
    assert body["allowed_domains"] == ["left-etcd", "left-etcd-0"]
    assert (body["allow_subdomains"], body["allow_glob_domains"], body["allow_any_name"]) == (
        False,
        False,
        False,
    )
