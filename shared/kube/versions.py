"""The resourceVersion a watch last saw of each child an operator applies.

``Applied`` (shared/kube/applied.py) lets a re-apply of an unchanged body
become a read: the object is fetched, and if it still holds the body,
nothing is written. An operator that re-applies its children on a refresh
timer still sends that read for every child at every refresh: at 1,000
clusters the etcd operator sent 86 of them per cluster while the clusters
were built (StatefulSet, two Services, PodDisruptionBudget, ConfigMap), and
they grow with the length of the build, not with the work to do.

A watch on the operator's own children (kopf event handlers, the API server
filtering by label) already tells of every change. ``Versions`` keeps, per
child, the resourceVersion of its last event. When that is the version the
client's own apply or read left the child at, nobody has changed it since,
and ``Kube.ensure`` sends nothing at all.

A watch can miss a deletion: kopf lists again after a broken watch, and a
child deleted in the gap gets no event. So an entry is trusted only for
``max_age`` seconds after the event or read that set it; an older one makes
``ensure`` read the object again (as ``apply`` does); a read that finds the
version the watch told renews it. At rest that is one read per child every
``max_age`` instead of one per refresh. Only events set a version: a read
may answer before an event that is newer than it, and must not undo it.

The same holds for reads: a child read at the version the watch last told
is still that body until the watch tells of another, so ``Kube.read``
answers from the body kept (``keep``, ``body``) and sends nothing. The etcd
operator read its StatefulSet at every refresh of every EtcdCluster: 36.8
reads per cluster while 1,000 were built, 1,092 a minute while they were
deleted. A body is kept only while its version is the one told, so an
event of a change drops it, and what is kept is what the operator reads
again, not all its children.

Pure bookkeeping, safe across the operator's worker threads and its event loop.
"""

import copy
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from shared.kube.applied import key, resource_version
from shared.listed import stripped

# How long a version is trusted without a new event or read (a bound for a
# missed deletion, not a schedule: a watch that runs sends every change).
MAX_AGE = 600.0


class Versions:
    """Object key (``applied.key``) -> (resourceVersion, when it was last told)."""

    def __init__(
        self, max_age: float = MAX_AGE, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max_age = max_age
        self._clock = clock
        # Reentrant: ``body`` asks ``current`` under it.
        self._lock = threading.RLock()
        self._entries: dict[str, tuple[str, float]] = {}
        # Bodies read at the version told (``keep``), for ``body``.
        self._bodies: dict[str, dict[str, Any]] = {}

    def seen(self, body: Mapping[str, Any], *, deleted: bool) -> None:
        """A watch event of ``body``: keep its version, or forget a deleted one."""
        name = key(body)
        version = resource_version(body)
        with self._lock:
            if deleted or not version:
                self._entries.pop(name, None)
                self._bodies.pop(name, None)
            else:
                self._entries[name] = (version, self._clock())
                kept = self._bodies.get(name)
                if kept is not None and resource_version(kept) != version:
                    del self._bodies[name]

    def renew(self, body: Mapping[str, Any], *, gone: bool = False) -> None:
        """A read of ``body`` (``gone``: found missing): trust the version told for longer
        if the read found it, forget it if the object is gone."""
        name = key(body)
        with self._lock:
            entry = self._entries.get(name)
            if entry is None:
                return
            if gone:
                del self._entries[name]
                self._bodies.pop(name, None)
            elif entry[0] == resource_version(body):
                self._entries[name] = (entry[0], self._clock())

    def keep(self, body: Mapping[str, Any]) -> None:
        """A read of ``body``: keep it while the watch tells of no other version
        (a read newer than the last event is not kept: the event is on its way)."""
        name = key(body)
        with self._lock:
            entry = self._entries.get(name)
            if entry is not None and entry[0] == resource_version(body):
                self._bodies[name] = stripped(body)

    def wrote(self, name: str) -> None:
        """The client changed ``name``: its kept body is old before the watch says so."""
        with self._lock:
            self._bodies.pop(name, None)

    def body(self, name: str) -> dict[str, Any] | None:
        """The body kept of ``name`` (a copy), while its version is the one the watch
        last told and not older than ``max_age``; None otherwise."""
        with self._lock:
            kept = self._bodies.get(name)
            if kept is None or resource_version(kept) != self.current(name):
                return None
            return copy.deepcopy(kept)

    def current(self, name: str) -> str | None:
        """The version last told of ``name``, or None when unknown or older than ``max_age``."""
        with self._lock:
            entry = self._entries.get(name)
        if entry is None or self._clock() - entry[1] >= self._max_age:
            return None
        return entry[0]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
