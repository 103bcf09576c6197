"""Child objects: the labels and owner reference every object g8s writes carries.

Pure: builders return plain dicts, and ``owned`` stamps them before they are
applied, so no builder can forget the contract of docs/design.md#names-labels-and-ownership.
"""

import copy
from collections.abc import Mapping
from typing import Any

from shared.api.labels import standard_labels


def owner_reference(owner: Mapping[str, Any]) -> dict[str, Any]:
    """A controller owner reference to ``owner`` (a full object body)."""
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned(
    child: Mapping[str, Any], *, owner: Mapping[str, Any], operator: str, cluster: str
) -> dict[str, Any]:
    """``child`` with the standard labels, the owner's namespace and an owner reference.

    The owner's namespace is forced: owner references cannot cross namespaces,
    and a child elsewhere would be garbage-collected at once.
    """
    result = copy.deepcopy(dict(child))
    meta = result.setdefault("metadata", {})
    meta["namespace"] = owner["metadata"]["namespace"]
    meta["labels"] = {**(meta.get("labels") or {}), **standard_labels(operator, cluster)}
    meta["ownerReferences"] = [owner_reference(owner)]
    return result
