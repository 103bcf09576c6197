"""Operator identity: every name derived once, distinct per operator.

See docs/design.md#names-labels-and-ownership.
"""

import pytest

from shared.api.kinds import ALL_KINDS
from shared.identity import OperatorIdentity


def test_names_follow_the_contract() -> None:
    etcd = OperatorIdentity("etcd")
    assert etcd.finalizer == "etcd.g8s.io/finalizer"
    assert etcd.annotation_prefix == "etcd.g8s.io"
    assert etcd.field_manager == "g8s-etcd"
    assert etcd.peering_name == "g8s-etcd"
    assert etcd.managed_by == "g8s-etcd"


def test_no_two_operators_share_any_name() -> None:
    identities = [OperatorIdentity(kind.operator) for kind in ALL_KINDS]
    for attribute in ("finalizer", "annotation_prefix", "field_manager", "peering_name"):
        values = [getattr(identity, attribute) for identity in identities]
        assert len(set(values)) == len(values), attribute


@pytest.mark.parametrize("name", ["", "Etcd", "etcd_operator", "-etcd", "x" * 40])
def test_rejects_names_that_are_not_short_dns_labels(name: str) -> None:
    with pytest.raises(ValueError, match="DNS label"):
        OperatorIdentity(name)
