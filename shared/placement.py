"""Where an operator's workloads run: node selector and tolerations from settings.

Pure functions. A platform team pins, say, etcd members to a node pool, and
the local environment puts them on its real node (the only one that does not
simulate its pods), with settings such as::

    G8S_ETCD_NODE_SELECTOR=g8s.io/host=real
    G8S_ETCD_TOLERATIONS=g8s.io/real-host:NoSchedule

A selector entry is ``key=value``; a toleration is ``key[=value][:Effect]``
(no value: operator ``Exists``).
"""

from collections.abc import Sequence
from typing import Any

EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


class PlacementError(ValueError):
    """A node selector or toleration setting that cannot be read."""


def node_selector(entries: Sequence[str]) -> dict[str, str]:
    selector: dict[str, str] = {}
    for entry in entries:
        key, sep, value = entry.partition("=")
        if not sep or not key.strip():
            raise PlacementError(f"node selector {entry!r}: expected key=value")
        selector[key.strip()] = value.strip()
    return selector


def toleration(entry: str) -> dict[str, str]:
    body, _, effect = entry.partition(":")
    key, sep, value = body.partition("=")
    if not key.strip():
        raise PlacementError(f"toleration {entry!r}: expected key[=value][:Effect]")
    if effect and effect not in EFFECTS:
        raise PlacementError(f"toleration {entry!r}: effect must be one of {', '.join(EFFECTS)}")
    result = {"key": key.strip(), "operator": "Equal" if sep else "Exists"}
    if sep:
        result["value"] = value.strip()
    if effect:
        result["effect"] = effect
    return result


def pod_placement(selector: Sequence[str], tolerations: Sequence[str]) -> dict[str, Any]:
    """The pod spec fields for ``selector`` and ``tolerations``; empty ones are left out."""
    placement: dict[str, Any] = {}
    if selector:
        placement["nodeSelector"] = node_selector(selector)
    if tolerations:
        placement["tolerations"] = [toleration(t) for t in tolerations]
    return placement
