"""What this process made sure of in Vault a moment ago: a cluster's mount with its CA, and roles.

Making sure of a cluster's PKI costs four Vault requests (the mount table, a
tune, the CA, the role), all under the mount's lock, so a cluster's fifteen
Certificates made sure of the same mount fifteen times over, one after
another, while it was built. Within ``seconds`` of making sure, a reconcile
trusts what it found instead.

What it trusts can only be stale for what Vault lost or someone changed in
between, and that corrects itself: a sign that Vault refuses, or that comes
back from another CA, forgets the mount, and the reconcile is retried, making
sure again (operators/certificates/reconcile.py). A mount this process removes
is forgotten at once.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from shared.vault import Role


@dataclass
class KnownPki:
    """Mounts (with their CA) and roles made sure of, each with when."""

    seconds: float
    clock: Callable[[], float] = time.monotonic
    mounts: dict[str, tuple[float, str]] = field(default_factory=dict)
    roles: dict[tuple[str, str], tuple[float, Role]] = field(default_factory=dict)

    def _fresh(self, since: float) -> bool:
        return self.clock() - since <= self.seconds

    def ca(self, mount: str) -> str | None:
        """The mount's CA (PEM) when made sure of recently, else None."""
        entry = self.mounts.get(mount)
        return entry[1] if entry is not None and self._fresh(entry[0]) else None

    def has_role(self, mount: str, role: Role) -> bool:
        """Whether exactly ``role`` was written on a mount still known."""
        entry = self.roles.get((mount, role.name))
        return (
            entry is not None
            and entry[1] == role
            and self._fresh(entry[0])
            and self.ca(mount) is not None
        )

    def mount_ensured(self, mount: str, ca_pem: str) -> None:
        self.mounts[mount] = (self.clock(), ca_pem)

    def role_ensured(self, mount: str, role: Role) -> None:
        self.roles[(mount, role.name)] = (self.clock(), role)

    def forget(self, mount: str) -> None:
        """Trust nothing of ``mount`` any more: the next reconcile makes sure again."""
        self.mounts.pop(mount, None)
        for key in [key for key in self.roles if key[0] == mount]:
            self.roles.pop(key, None)
