"""Operator identity: the names one g8s operator uses to mark what it owns.

Two operators must never share a finalizer, kopf's annotation prefix, a
server-side-apply field manager or a peering object (docs/design.md#names-labels-and-ownership), or
they would fight over the same objects; everything here derives from the
operator's name alone so they cannot drift apart.
"""

import re
from dataclasses import dataclass

from shared.api import GROUP
from shared.api.labels import managed_by

_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$")


@dataclass(frozen=True)
class OperatorIdentity:
    """The identity of one operator, e.g. ``OperatorIdentity("etcd")``."""

    name: str

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"operator name {self.name!r} must be a short DNS label")

    @property
    def finalizer(self) -> str:
        return f"{self.name}.{GROUP}/finalizer"

    @property
    def annotation_prefix(self) -> str:
        """Prefix of kopf's progress and diff-base annotations."""
        return f"{self.name}.{GROUP}"

    @property
    def field_manager(self) -> str:
        return f"g8s-{self.name}"

    @property
    def peering_name(self) -> str:
        return f"g8s-{self.name}"

    @property
    def managed_by(self) -> str:
        """The ``app.kubernetes.io/managed-by`` value on objects it writes."""
        return managed_by(self.name)
