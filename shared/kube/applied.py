"""Memory of what one operator applied, so a resync at rest sends no write.

Server-side apply of an unchanged object changes nothing in etcd, but it is
still a write request; an operator that re-applies every child on a timer
sends one per child per interval for ever (592 writes/min at 51 clusters,
bench/cluster). ``Applied`` remembers, per object, a digest of the body last
applied and the resourceVersion the API server answered with. When the same
body is applied again and the object still has that resourceVersion, nobody
has touched it since, so the apply would be a no-op and can be skipped.

A change elsewhere in the object (its status, a field another writer owns)
moves the resourceVersion too, yet leaves what was applied as it was: when
the live object still carries every field of the body with the value
applied (``covers``), the apply is skipped as well. A child whose status
changes often (a Certificate being issued, a Deployment's pods starting)
would otherwise be applied again at every look of its owner.

Pure bookkeeping: the adapter (``shared.kube.client``) does the reads.
"""

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

# Entries of deleted objects are never read again; the oldest go first.
DEFAULT_CAPACITY = 20_000


def key(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('apiVersion')}/{obj.get('kind')}/{meta.get('namespace')}/{meta.get('name')}"


def digest(obj: Mapping[str, Any]) -> str:
    """A digest of the body as applied (key order does not matter)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def resource_version(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def covers(current: Any, applied: Any) -> bool:
    """Whether ``current`` holds every field of ``applied`` with the same value.

    Maps may hold more (defaults, other writers' fields, status); lists must
    have the same length, item by item covered (containers get defaults).
    ``apiVersion`` and ``kind`` are not compared: a listed item lacks them.
    """
    if isinstance(applied, Mapping):
        if not isinstance(current, Mapping):
            return False
        return all(
            name in ("apiVersion", "kind") or (name in current and covers(current[name], value))
            for name, value in applied.items()
        )
    if isinstance(applied, list):
        return (
            isinstance(current, list)
            and len(current) == len(applied)
            and all(covers(c, a) for c, a in zip(current, applied, strict=True))
        )
    return bool(current == applied)


class Applied:
    """Per object: (digest of the body applied, resourceVersion after it)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._entries: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._capacity = capacity

    def same_body(self, obj: Mapping[str, Any]) -> bool:
        """Whether ``obj`` is the body last applied (then the object is worth a look)."""
        entry = self._entries.get(key(obj))
        return entry is not None and entry[0] == digest(obj)

    def untouched(self, obj: Mapping[str, Any], current: Mapping[str, Any] | None) -> bool:
        """Whether applying ``obj`` again would change nothing (``current``: the live object)."""
        entry = self._entries.get(key(obj))
        if entry is None or current is None:
            return False
        if entry[0] != digest(obj):
            return False
        version = resource_version(current)
        return (bool(version) and entry[1] == version) or covers(current, obj)

    def version(self, obj: Mapping[str, Any]) -> str | None:
        """The resourceVersion the object held ``obj`` at, if ``obj`` is the body last applied."""
        entry = self._entries.get(key(obj))
        if entry is None or entry[0] != digest(obj) or not entry[1]:
            return None
        return entry[1]

    def remember(self, obj: Mapping[str, Any], result: Mapping[str, Any]) -> None:
        """Record that ``obj`` was applied and the API server answered ``result``."""
        name = key(obj)
        self._entries[name] = (digest(obj), resource_version(result))
        self._entries.move_to_end(name)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def forget(self, obj: Mapping[str, Any]) -> None:
        self._entries.pop(key(obj), None)
