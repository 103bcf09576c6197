"""Secrets an operator reads again and again, kept current by one watch.

The kvm operator builds every node's Ignition from its cluster's certificate
Secrets, and it looks at each node again every refresh: a control-plane node
read eleven Secrets each time, 68.9 reads per cluster while 300 clusters were
built. Here a Secret read once is kept, and the operator's watch of the
labelled Secrets (``watch_certificates``, filtered by the API server with
``label_selectors``) replaces or drops it when it changes, so a look at an
unchanged node asks the API server nothing.

Only what was asked for is kept: the watch's events for any other Secret are
dropped, so the memory grows with the Secrets the operator uses, not with
all the labelled Secrets of the host cluster. A Secret without the label is
never kept (no event would tell of its change). A missing one is read again
at the next ask, unless the reader says the watch will tell of it once made
(``told_when_made``: a certificate Secret, which its operator labels): then
its absence is kept, for ``ABSENT_AGE`` at most. A node waiting for its
certificates asked for the first missing one at each look; with its absence
kept, the kvm operator's ``GET Secret`` per cluster fell from 52.4 to 46.8
while 1,000 clusters were built. If the watch ever stops telling, an entry
is still read again after ``max_age``.

``Watched`` does the same for any kind, keeping only what a reader needs
of each object: the kvm operator keeps a ClusterNetwork's subnet, gateway
and bridge and the etcd Service's ClusterIP (``kept``, ``watch_kept``).
The same way, ``watch_versions`` keeps the resourceVersions of an operator's
own children (``shared.kube.versions``) from watches the API server filters
by the label ``app.kubernetes.io/managed-by`` (``children_selectors``), so
that ``Kube.ensure`` of an unchanged child sends nothing.
"""

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import kopf

from shared.api import labels
from shared.api.labels import MANAGED_BY, managed_by
from shared.kube import Kube, ObjectRef

# How old a kept Secret may get before it is read again, in case the watch
# missed a change (kopf restarts a broken watch, so this is a bound, not a
# schedule).
MAX_AGE = 600.0
# How long a missing object the watch would tell of is taken for missing
# without asking: the bound of a wait if the watch missed its creation (kopf
# lists again when it restarts a watch, so that is rare).
ABSENT_AGE = 60.0

Key = tuple[str, str]  # (namespace, name)
Fetch = Callable[[str, str], Mapping[str, Any] | None]


@dataclass(frozen=True)
class _Entry:
    data: dict[str, str]
    at: float


def secret_data(secret: Mapping[str, Any] | None) -> dict[str, str]:
    """A Secret's ``data`` as strings (base64, as the API sends it); {} when none."""
    data = (secret or {}).get("data") or {}
    return {str(k): str(v) for k, v in data.items()}


def _key(secret: Mapping[str, Any]) -> Key:
    meta = secret.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _labelled(secret: Mapping[str, Any], label: str) -> bool:
    return label in ((secret.get("metadata") or {}).get("labels") or {})


class Watched:
    """What was read of some objects of one kind, as the watch last saw them.

    ``value`` picks what the reader needs of an object (a dict of strings, {}
    when the object is missing or has nothing yet); ``keep`` says whether a
    found object is kept: one that is not is read again at the next ask.
    """

    def __init__(
        self,
        fetch: Fetch,
        value: Callable[[Mapping[str, Any] | None], dict[str, str]],
        keep: Callable[[Mapping[str, Any]], bool],
        *,
        max_age: float = MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
        absent_age: float = ABSENT_AGE,
    ) -> None:
        self._fetch = fetch
        self._value = value
        self._keep = keep
        self._max_age = max_age
        self._absent_age = absent_age
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[Key, _Entry] = {}
        # Each asked-for key -> how many events it had: a read that an event
        # overtook keeps the event's newer value, not its own.
        self._events: dict[Key, int] = {}
        self.reads = 0

    def data(self, namespace: str, name: str, *, told_when_made: bool = False) -> dict[str, str]:
        """The object's value ({} when it is missing), read only when not kept or too old.

        ``told_when_made``: the object, once made, is one the watch tells of
        (and kept): its absence is kept too, so a reader waiting for it asks
        the API server once per ``absent_age``, not at every look.
        """
        key = (namespace, name)
        with self._lock:
            entry = self._entries.get(key)
            age = self._max_age if entry is None or entry.data else self._absent_age
            if entry is not None and self._clock() - entry.at < age:
                return dict(entry.data)
            events = self._events.setdefault(key, 0)
        found = self._fetch(namespace, name)
        data = self._value(found)
        with self._lock:
            self.reads += 1
            if found is not None and data and self._keep(found):
                if self._events.get(key) == events:
                    self._entries[key] = _Entry(dict(data), self._clock())
            elif found is None and told_when_made:
                # An event meanwhile is newer than the 404: what it left stands.
                if self._events.get(key) == events:
                    self._entries[key] = _Entry({}, self._clock())
            else:
                # Not kept, so not watched for either: asked again next time.
                self._entries.pop(key, None)
                self._events.pop(key, None)
        return data

    def seen(self, obj: Mapping[str, Any], *, deleted: bool) -> None:
        """A watch event: keep the new value of an asked-for object, forget a deleted one."""
        key = _key(obj)
        with self._lock:
            if key not in self._events:
                return
            if deleted:
                del self._events[key]
                self._entries.pop(key, None)
                return
            self._events[key] += 1
            data = self._value(obj)
            if data and self._keep(obj):
                self._entries[key] = _Entry(data, self._clock())
            else:
                self._entries.pop(key, None)

    def __len__(self) -> int:
        """How many objects are kept (a kept absence is not one)."""
        with self._lock:
            return sum(1 for entry in self._entries.values() if entry.data)


class WatchedSecrets(Watched):
    """The data of the Secrets labelled ``label`` that were read, as the watch last saw them."""

    def __init__(
        self,
        fetch: Fetch,
        label: str,
        max_age: float = MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
        absent_age: float = ABSENT_AGE,
    ) -> None:
        super().__init__(
            fetch,
            secret_data,
            lambda secret: _labelled(secret, label),
            max_age=max_age,
            clock=clock,
            absent_age=absent_age,
        )
        self.label = label


def fields(*paths: tuple[str, ...]) -> Callable[[Mapping[str, Any] | None], dict[str, str]]:
    """A ``value`` of the string fields at ``paths`` (each the keys down to it, the
    last key its name in the value); {} unless every one is set."""

    def value(obj: Mapping[str, Any] | None) -> dict[str, str]:
        found: dict[str, str] = {}
        for path in paths:
            at: Any = obj or {}
            for step in path:
                at = at.get(step) if isinstance(at, Mapping) else None
            if not isinstance(at, str) or not at or at == "None":
                return {}
            found[path[-1]] = at
        return found

    return value


SECRETS = ("", "v1", "secrets")


def label_selectors(label: str) -> dict[tuple[str, str, str], str]:
    """What kopf asks the API server to filter the Secrets' watch by (its settings)."""
    return {SECRETS: label}


def children_selectors(
    operator: str, resources: Iterable[tuple[str, str, str]]
) -> dict[tuple[str, str, str], str]:
    """The server-side selectors of the watches of ``operator``'s own children of ``resources``."""
    return {resource: f"{MANAGED_BY}={managed_by(operator)}" for resource in resources}


# The certificates operator labels every certificate Secret, the CA's too: what
# the kvm and etcd operators read again and again.
CERTIFICATE_SELECTORS = label_selectors(labels.CERTIFICATE)


def kept(
    kube: Kube,
    api_version: str,
    kind: str,
    value: Callable[[Mapping[str, Any] | None], dict[str, str]],
) -> Watched:
    """The ``value`` of objects of ``kind`` read through ``kube``, kept once complete
    (``watch_kept`` feeds it)."""
    return Watched(
        lambda namespace, name: kube.get(ObjectRef(api_version, kind, name, namespace)),
        value,
        keep=lambda _: True,
    )


def certificate_secrets(kube: Kube) -> WatchedSecrets:
    """The certificate Secrets read through ``kube``, kept (``watch_certificates`` feeds it)."""
    return WatchedSecrets(
        lambda namespace, name: kube.get(ObjectRef("v1", "Secret", name, namespace)),
        labels.CERTIFICATE,
    )


def watch_certificates(registry: kopf.OperatorRegistry) -> None:
    """Keep the memo's ``secrets`` (``OperatorContext.secrets``) current.

    The handler filters by the label too, so an operator run without the
    server-side selector (``CERTIFICATE_SELECTORS``) gets the same events,
    only more of them to drop.
    """
    only = {labels.CERTIFICATE: kopf.PRESENT}

    @kopf.on.event(*SECRETS, registry=registry, id="watched-secrets", labels=only)
    async def _secret(body: kopf.Body, type: str | None, memo: Any, **_: Any) -> None:
        if memo.secrets is not None:
            memo.secrets.seen(body, deleted=type == "DELETED")


def watch_versions(
    registry: kopf.OperatorRegistry, operator: str, resources: Iterable[tuple[str, str, str]]
) -> None:
    """Keep the client's ``versions`` current with every event of ``operator``'s own children.

    ``resources`` are (group, version, plural). Like ``watch_certificates``,
    the handlers filter by the label too.
    """
    mine = {MANAGED_BY: managed_by(operator)}
    for resource in resources:

        @kopf.on.event(*resource, registry=registry, id=f"versions-{resource[2]}", labels=mine)
        async def _child(body: kopf.Body, type: str | None, memo: Any, **_: Any) -> None:
            versions = memo.client().versions
            if versions is not None:
                versions.seen(body, deleted=type == "DELETED")


def watch_kept(
    registry: kopf.OperatorRegistry,
    resource: tuple[str, str, str],
    pick: Callable[[Any], Watched | None],
) -> None:
    """Keep ``pick(memo)`` current with every event of ``resource`` (group, version, plural)."""

    @kopf.on.event(*resource, registry=registry, id=f"kept-{resource[2]}")
    async def _kept(body: kopf.Body, type: str | None, memo: Any, **_: Any) -> None:
        watched = pick(memo)
        if watched is not None:
            watched.seen(body, deleted=type == "DELETED")
