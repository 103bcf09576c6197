"""operators.certificates.known: what a reconcile may trust without asking Vault, and how long."""

from operators.certificates.known import KnownPki
from shared.vault import Role


def role(name: str = "api", names: tuple[str, ...] = ("c1.example",)) -> Role:
    return Role(
        name=name,
        allowed_names=names,
        organizations=(),
        key_usages=("DigitalSignature",),
        server=True,
        client=False,
        max_ttl="8760h",
        allow_ip_sans=False,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_mount_is_trusted_for_its_seconds_then_asked_again() -> None:
    clock = Clock()
    known = KnownPki(60.0, clock)
    assert known.ca("pki-ns-c1") is None
    known.mount_ensured("pki-ns-c1", "CA PEM")
    clock.now += 60.0
    assert known.ca("pki-ns-c1") == "CA PEM"
    clock.now += 0.1
    assert known.ca("pki-ns-c1") is None


def test_a_role_is_trusted_only_as_written_and_only_on_a_known_mount() -> None:
    known = KnownPki(60.0, Clock())
    known.role_ensured("pki-ns-c1", role())
    assert not known.has_role("pki-ns-c1", role())  # the mount is not known
    known.mount_ensured("pki-ns-c1", "CA PEM")
    assert known.has_role("pki-ns-c1", role())
    # A role whose names changed (a spec edit) is written again.
    assert not known.has_role("pki-ns-c1", role(names=("c1.example", "api.c1.example")))
    assert not known.has_role("pki-ns-c2", role())


def test_forgetting_a_mount_forgets_its_roles_and_nothing_else() -> None:
    known = KnownPki(60.0, Clock())
    for mount in ("pki-ns-c1", "pki-ns-c2"):
        known.mount_ensured(mount, f"{mount} CA")
        known.role_ensured(mount, role())
    known.forget("pki-ns-c1")
    assert known.ca("pki-ns-c1") is None
    assert ("pki-ns-c1", "api") not in known.roles
    assert known.has_role("pki-ns-c2", role())


def test_zero_seconds_trusts_nothing() -> None:
    clock = Clock()
    known = KnownPki(0.0, clock)
    known.mount_ensured("pki-ns-c1", "CA PEM")
    clock.now += 0.001
    assert known.ca("pki-ns-c1") is None
