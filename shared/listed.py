"""An owner's children as one listing and the watches since saw them.

The cluster operator looks at all the children of a Cluster at every
reconcile: four listings (Certificates, EtcdCluster, ClusterNetwork,
KVMNodes), 36.8 per cluster while 100 clusters were built. The API server
answers each by going through every object of the kind in the namespace
and keeping those with the Cluster's label, so at 1,000 clusters in one
namespace each listing of Certificates looks at 15,000 of them: the cost
of a look grows with the count, and the build's with its square.

The operator already watches those kinds (``shared.owners.watch_children``
wakes the Cluster). ``Listed`` keeps, per group (namespace, kind, the value
of the grouping label), the children one listing found, and the watch's
events change them from then on; a look at a group it holds asks the API
server nothing.

A listing is kept only if no event of its group came while it was in
flight; the group is then listed again at its next look. Events come in
the order of the changes, but a busy operator handles them late: at 1,000
clusters the cluster operator handled a KVMNode's change six minutes after
it was made, after a listing that had already seen it, and the older event
put the older status back. So an event older than the child kept replaces
it no more: resourceVersions of one kind are comparable integers
(Kubernetes guarantees it from 1.35, KEP-5504, and etcd-backed servers
always gave them so); where one is not such an integer, the event wins as
before.

What the watch can miss is bounded as in ``shared.kube.versions``: a group
is listed again ``max_age`` after its listing, and so is the group of a child
the sweep finds gone (``shared.owners.sweep``), at its next look (``forget``). A child
the operator has just made is put in at once (``put``), so a look right
after it sees the child even before the watch tells of it (or the child
would be made again); after a deletion the group is listed again
(``stale``). Changes of a child the group holds come only by the watch.

Objects are kept compact (``stripped``): without ``metadata.managedFields``
(about half of a listed body) and kopf's copy of the last handled spec (a
fifth of the rest), neither read here, and with their keys and short
strings interned, one copy of each ``"lastTransitionTime"`` or ``"True"``
for all. A child parsed from the watch's JSON held 10.0 KiB, kept so 3.9 KiB
(measured with tracemalloc on the 111 children of 8 clusters), and the
cluster operator keeps about 19 children a cluster. Pure bookkeeping, safe
across the operator's worker threads and its event loop.
"""

import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# How long a group's listing is trusted (a bound for a missed deletion, not a
# schedule: a watch that runs tells of every change).
MAX_AGE = 600.0

Group = tuple[str, str, str]  # (namespace, kind, grouping label's value)
List = Callable[[], list[dict[str, Any]]]


@dataclass
class _Held:
    """One group: its children by name once listed, and how many events it had."""

    events: int = 0
    listed_at: float | None = None
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Names the watch told deleted since the listing (a late answer must not
    # bring one back).
    deleted: set[str] = field(default_factory=set)


# kopf's record of the spec it last handled, written by the child's own
# operator (shared.runtime: "<operator prefix>/last-handled-configuration").
DIFFBASE_SUFFIX = "/last-handled-configuration"
# Longer strings (certificates, messages) are rarely the same twice.
INTERNED_LENGTH = 64


def stripped(body: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` as kept: without managed fields and kopf's diffbase annotation,
    its keys and short strings interned (a deep copy; ``body`` is unchanged)."""
    meta = dict(body.get("metadata") or {})
    meta.pop("managedFields", None)
    annotations = meta.get("annotations")
    if isinstance(annotations, Mapping):
        meta["annotations"] = {
            key: value for key, value in annotations.items() if not key.endswith(DIFFBASE_SUFFIX)
        }
    kept: dict[str, Any] = interned({**body, "metadata": meta})
    return kept


def interned(value: Any) -> Any:
    """``value`` with every key and every string up to ``INTERNED_LENGTH`` interned."""
    if isinstance(value, Mapping):
        return {sys.intern(str(key)): interned(item) for key, item in value.items()}
    if isinstance(value, list):
        return [interned(item) for item in value]
    if isinstance(value, str) and len(value) <= INTERNED_LENGTH:
        return sys.intern(value)
    return value


class Listed:
    """The children of some groups, as listed once and kept current by the watches."""

    def __init__(
        self, label: str, max_age: float = MAX_AGE, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.label = label
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._groups: dict[Group, _Held] = {}
        self.listings = 0

    def group_of(self, body: Mapping[str, Any]) -> Group | None:
        meta = body.get("metadata") or {}
        value = (meta.get("labels") or {}).get(self.label)
        if not isinstance(value, str) or not value:
            return None
        return str(meta.get("namespace") or ""), str(body.get("kind") or ""), value

    def children(self, group: Group, listing: List) -> list[dict[str, Any]]:
        """The group's children: kept, or listed (``listing``) when not held or too old."""
        with self._lock:
            held = self._groups.setdefault(group, _Held())
            if held.listed_at is not None and self._clock() - held.listed_at < self._max_age:
                return list(held.items.values())
            events = held.events
        found = listing()
        with self._lock:
            self.listings += 1
            held = self._groups.setdefault(group, _Held())
            if held.events == events:
                held.items = {name_of(item): stripped(item) for item in found}
                held.deleted = set()
                held.listed_at = self._clock()
            else:
                # An event overtook the listing: list again at the next look.
                held.listed_at = None
        return found

    def seen(self, body: Mapping[str, Any], *, deleted: bool) -> None:
        """A watch event: a listed group takes it; any other group counts it only."""
        group = self.group_of(body)
        if group is None:
            return
        with self._lock:
            held = self._groups.get(group)
            if held is None:
                return
            held.events += 1
            if held.listed_at is not None:
                self._set(held, body, deleted=deleted)

    def put(self, body: Mapping[str, Any]) -> None:
        """A child the operator's own write answered with goes into a listed group,
        unless the group holds it already or the watch told of its deletion.

        Only a child the group does not know is put in: the answer to a write
        can reach here after an event of a later change (another operator's
        status), and would then undo it. A known child's change comes by the
        watch, in order.
        """
        group = self.group_of(body)
        if group is None:
            return
        name = name_of(body)
        with self._lock:
            held = self._groups.get(group)
            if held is None or held.listed_at is None:
                return
            if name in held.items or name in held.deleted:
                return
            self._set(held, body, deleted=False)

    def forget(self, body: Mapping[str, Any]) -> None:
        """A child found gone outside the watch (the sweep): the group holding it is
        listed again at its next look. The sweep's names can be older than a child
        just made, so its word is checked with a listing, not taken. The body may
        lack labels: the group is the one of its namespace and kind that holds it."""
        meta = body.get("metadata") or {}
        namespace, kind, name = str(meta.get("namespace") or ""), body.get("kind"), name_of(body)
        with self._lock:
            for group, held in self._groups.items():
                if group[:2] == (namespace, kind) and name in held.items:
                    held.listed_at = None

    def stale(self, group: Group) -> None:
        """List the group again at its next look (after a write whose answer is not the
        object, such as a deletion: the look must see what was done)."""
        with self._lock:
            held = self._groups.get(group)
            if held is not None:
                held.listed_at = None

    def drop(self, group: Group) -> None:
        """Forget a group (its owner is gone)."""
        with self._lock:
            self._groups.pop(group, None)

    def __len__(self) -> int:
        with self._lock:
            return sum(len(held.items) for held in self._groups.values())

    def _set(self, held: _Held, body: Mapping[str, Any], *, deleted: bool) -> None:
        name = name_of(body)
        kept = held.items.get(name)
        if kept is not None and older(body, kept):
            return
        if deleted:
            held.items.pop(name, None)
            held.deleted.add(name)
        else:
            held.items[name] = stripped(body)
            held.deleted.discard(name)


def older(body: Mapping[str, Any], than: Mapping[str, Any]) -> bool:
    """Whether ``body`` is an older version of the object than ``than``: both
    resourceVersions comparable (KEP-5504) and ``body``'s the lower."""
    mine, theirs = version_number(body), version_number(than)
    return mine is not None and theirs is not None and mine < theirs


def version_number(body: Mapping[str, Any]) -> int | None:
    """The resourceVersion as a number: a positive integer without a leading
    zero (KEP-5504's comparable form); None otherwise."""
    version = str((body.get("metadata") or {}).get("resourceVersion") or "")
    if not version.isdigit() or version.startswith("0") or not version.isascii():
        return None
    return int(version)


def name_of(body: Mapping[str, Any]) -> str:
    return str((body.get("metadata") or {}).get("name") or "")
