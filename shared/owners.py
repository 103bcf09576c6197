"""A child's change wakes its owner, without polling and without writes at rest.

An owner whose status depends on a child it does not get events of (a
Cluster on its child CRs, a KVMNode on its Deployment) would otherwise learn
of a change only from its resync timer. ``watch_children`` registers a kopf
event handler on the child kind; every event becomes a token (``Link.token``:
what the owner reads of the child, as one short string), and when that
differs from the token last sent for the child, the owner's annotation
``Link.annotation`` is set to it. kopf sees an annotation change as an
update of the owner and reconciles it, which re-reads the child. Repeated
events of an unchanged child cost nothing; at rest nothing is written.
``watch_workloads`` is the common case: an operator's Deployments or
StatefulSets waking the object they were built for.

A watch that was down (an API server restart, a dropped stream) starts again
with a fresh listing, and kopf sends no event for a child deleted in the
gap: its owner would never hear of it. So the operator also remembers the
children it has seen alive (``OperatorContext.seen``), and a sweep lists
them now and then (names only: a metadata listing per namespace and kind)
and wakes the owner of each one that has vanished, as the deletion event
would have.

An owner whose deletion handler has run is woken no more (``OperatorContext.going``):
its handler retries on its own timer, which kopf keeps whatever event comes,
and a write to it between kopf's two patches that remove its finalizer (the
progress annotations, then the finalizer with a resourceVersion test) makes
kopf drop the removal and, on a later event, run the deletion handler again
from the start. Deleting many clusters at once ran each release up to three
times so.

Covered by tests/unit/test_owners.py (the pure decision and the notifier
with an in-memory client).
"""

import asyncio
import contextlib
import time
import weakref
from collections.abc import Callable, Container, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import kopf

from shared import logs
from shared.api import API_VERSION
from shared.api.kinds import Kind
from shared.api.labels import CHILDREN_ANNOTATION, MANAGED_BY, managed_by
from shared.errors import ApiError
from shared.kube import ObjectRef
from shared.runtime import OperatorContext

HTTP_NOT_FOUND = 404
# Annotation values are free text, but a token is for change detection only.
TOKEN_LIMIT = 250
DELETED = "deleted/"
# How long an owner whose deletion began stays unwoken (its uid remembered);
# long after any finalizer removal, short enough that the memory stays small.
GOING_SECONDS = 600.0


class Patcher(Protocol):
    """What notifying needs of ``shared.kube.Kube``: a merge patch of an existing object."""

    def patch(self, ref: ObjectRef, body: Mapping[str, Any]) -> dict[str, Any]: ...


class Sweeper(Patcher, Protocol):
    """What a sweep needs besides: the names of the objects of a kind in a namespace."""

    def names(self, api_version: str, kind: str, *, namespace: str) -> set[str]: ...


@dataclass(frozen=True)
class Link:
    """Which owner a child wakes, and what of the child the owner reads."""

    owner_api_version: str
    owner_kind: str
    annotation: str
    token: Callable[[Mapping[str, Any]], str]


@dataclass(frozen=True)
class Notice:
    """One annotation write: ``token`` on ``owner``, remembered under ``key``."""

    key: str
    owner: ObjectRef
    token: str


def workload_token(body: Mapping[str, Any]) -> str:
    """What an owner reads of its Deployment or StatefulSet, as one short string.

    The pods' readiness as the workload counts it (ready and available
    replicas) and whether it is going away; not its spec, which the owner
    writes itself, so the owner's own applies wake nobody.
    """
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    parts = (
        body.get("kind"),
        meta.get("name"),
        status.get("readyReplicas") or 0,
        status.get("availableReplicas") or 0,
        "deleting" if meta.get("deletionTimestamp") else "",
    )
    return "/".join(str(p) for p in parts)


def owner_reference(body: Mapping[str, Any], link: Link) -> Mapping[str, Any] | None:
    """The reference to the owner of ``link``'s kind in ``body``'s ownerReferences, if any."""
    for ref in (body.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == link.owner_kind and ref.get("apiVersion") == link.owner_api_version:
            return dict(ref)
    return None


def deleting(going: MutableMapping[str, float], body: Mapping[str, Any]) -> None:
    """Call first in a deletion handler: ``body``'s children wake it no more.

    Forgets owners whose deletion handler was last called longer than
    ``GOING_SECONDS`` ago (each call renews the owner's time: a deletion
    that lasts longer stays unwoken while its handler runs).
    """
    now = time.monotonic()
    for uid, since in list(going.items()):
        if now - since > GOING_SECONDS:
            del going[uid]
    going[str((body.get("metadata") or {}).get("uid"))] = now


def child_key(body: Mapping[str, Any]) -> str:
    meta = body.get("metadata") or {}
    return f"{meta.get('namespace')}/{body.get('kind')}/{meta.get('name')}"


def notice(
    link: Link,
    sent: Mapping[str, str],
    body: Mapping[str, Any],
    *,
    deleted: bool,
    going: Container[str] = (),
) -> Notice | None:
    """The write an event of ``body`` calls for, or None when the owner already knows
    or is being deleted (its uid in ``going``).

    A deletion always notifies (the owner may re-create the child); any other
    event only when its token changed.
    """
    reference = owner_reference(body, link)
    if reference is None or str(reference.get("uid")) in going:
        return None
    owner = str(reference.get("name"))
    key = child_key(body)
    # The deleted object's uid: a child deleted, made again and deleted once
    # more must change the owner's annotation again, or that owner sleeps.
    uid = (body.get("metadata") or {}).get("uid") or ""
    token = f"{DELETED}{uid}/{key}" if deleted else link.token(body)
    if not deleted and sent.get(key) == token:
        return None
    namespace = (body.get("metadata") or {}).get("namespace")
    ref = ObjectRef(link.owner_api_version, link.owner_kind, owner, namespace)
    return Notice(key, ref, token[:TOKEN_LIMIT])


async def notify_owner(
    kube: Patcher,
    link: Link,
    sent: MutableMapping[str, str],
    body: Mapping[str, Any],
    *,
    deleted: bool,
    seen: MutableMapping[str, Any] | None = None,
    going: Container[str] = (),
) -> None:
    """Touch the owner's annotation when what it reads of ``body`` changed.

    ``sent`` (child key -> last token written) lives as long as the operator
    process; after a restart each child is announced once more. ``seen``,
    when given, remembers the living children for ``sweep``; owners in
    ``going`` are not touched.
    """
    if seen is not None:
        remember(seen, link, body, deleted=deleted)
    if deleted:
        sent.pop(child_key(body), None)
    change = notice(link, sent, body, deleted=deleted, going=going)
    if change is None:
        return
    slot = (change.owner, link.annotation)
    waking = _WAKING.get(slot)
    if waking is not None:
        waking.ride(change, deleted=deleted)
        return
    waking = _WAKING[slot] = Waking(change)
    try:
        if await _wake(kube, link, change) and not deleted:
            sent[change.key] = change.token
        while (merged := waking.take()) is not None:
            latest, written = merged
            if await _wake(kube, link, latest):
                sent.update(written)
    finally:
        del _WAKING[slot]


@dataclass
class Waking:
    """The notices for an owner that came while a write to it was in flight.

    They all ride on one more write, of the latest token: the owner re-reads
    every child anyway. Fifteen Certificates turning Ready together wake
    their Cluster two or three times, not fifteen.
    """

    writing: Notice
    latest: Notice | None = None
    # child key -> token, remembered once the write that carries it is done
    written: dict[str, str] = field(default_factory=dict)

    def ride(self, change: Notice, *, deleted: bool) -> None:
        if change == self.writing:
            return  # the same child's event again, before its write was remembered
        self.latest = change
        if not deleted:
            self.written[change.key] = change.token

    def take(self) -> tuple[Notice, dict[str, str]] | None:
        if self.latest is None:
            return None
        taken = (self.latest, self.written)
        self.writing, self.latest, self.written = self.latest, None, {}
        return taken


# (owner, annotation) -> the notices waiting for the write in flight to it.
_WAKING: dict[tuple[ObjectRef, str], Waking] = {}


async def _wake(kube: Patcher, link: Link, change: Notice) -> bool:
    """Write ``change``'s token on its owner; False when the owner is gone."""
    patch = {"metadata": {"annotations": {link.annotation: change.token}}}
    try:
        await asyncio.to_thread(kube.patch, change.owner, patch)
    except ApiError as exc:
        if exc.status != HTTP_NOT_FOUND:
            raise
        return False  # the owner is gone: nothing to wake
    return True


def watch_children(
    registry: kopf.OperatorRegistry,
    resource: tuple[str, str, str],
    link: Link,
    *,
    labels: Mapping[str, Any],
    id: str,
    keep: bool = False,
) -> None:
    """Register the event handler that wakes ``link``'s owner on changes of ``resource``.

    ``resource`` is (group, version, plural) of the child; ``labels`` select
    the children (use ``kopf.PRESENT`` as a value to require only the key).
    The client and the sent-token memory are the operator's context's (kopf memo).
    ``keep``: the event also goes to the context's ``listed`` children
    (``shared.listed``), before the owner is woken, so that the owner's look
    finds the child as this event has it.
    """

    @kopf.on.event(*resource, registry=registry, id=id, labels=dict(labels))
    async def _child(body: kopf.Body, type: str | None, memo: OperatorContext, **_: Any) -> None:
        if keep and memo.listed is not None:
            memo.listed.seen(body, deleted=type == "DELETED")
        await notify_owner(
            memo.client(),
            link,
            memo.sent,
            body,
            deleted=type == "DELETED",
            seen=memo.seen,
            going=memo.going,
        )

    if registry not in _SWEEPING:
        _SWEEPING.add(registry)
        _register_sweep(registry)


# --- children deleted while no watch ran -----------------------------------------------------

# The registries that already sweep: one sweep per operator, however many kinds it watches.
_SWEEPING: "weakref.WeakSet[kopf.OperatorRegistry]" = weakref.WeakSet()


def remember(
    seen: MutableMapping[str, Any], link: Link, body: Mapping[str, Any], *, deleted: bool
) -> None:
    """Keep what a sweep needs of a living child (who owns it, its name); forget a deleted one."""
    key = child_key(body)
    if deleted:
        seen.pop(key, None)
        return
    meta = body.get("metadata") or {}
    identity = {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "ownerReferences": meta.get("ownerReferences") or [],
        },
    }
    seen[key] = (link, identity)


async def until_gone(
    seen: Mapping[str, Any],
    keys: Iterable[str],
    within: float,
    poll: float = 0.2,
    clock: Callable[[], float] = time.monotonic,
) -> bool | None:
    """Wait until the watches have told of every child in ``keys`` being deleted.

    True once none is left among the children seen alive; False if some are
    still there after ``within`` seconds; None at once when one of them was
    never seen alive: then the watches cannot tell, and the caller looks for
    itself.
    """
    wanted = tuple(keys)
    if any(key not in seen for key in wanted):
        return None
    deadline = clock() + within
    while any(key in seen for key in wanted):
        if clock() >= deadline:
            return False
        await asyncio.sleep(poll)
    return True


def still_seen(seen: Mapping[str, Any], keys: Iterable[str]) -> tuple[str, ...]:
    """Those of ``keys`` the watches still see alive."""
    return tuple(key for key in keys if key in seen)


def vanished(
    seen: Mapping[str, Any], api_version: str, kind: str, namespace: str, names: Iterable[str]
) -> list[tuple[Link, dict[str, Any]]]:
    """The children of that kind in ``namespace`` seen alive that are not among ``names``."""
    present = set(names)
    return [
        (link, body)
        for link, body in seen.values()
        if body["apiVersion"] == api_version
        and body["kind"] == kind
        and body["metadata"]["namespace"] == namespace
        and body["metadata"]["name"] not in present
    ]


async def sweep(
    kube: Sweeper,
    sent: MutableMapping[str, str],
    seen: MutableMapping[str, Any],
    going: Container[str] = (),
    gone: Callable[[Mapping[str, Any]], None] | None = None,
) -> int:
    """Wake the owner of every child seen alive that is gone; return how many were.

    ``gone`` is told of each such child first (``shared.listed.Listed.forget``).
    """
    places = sorted(
        {(b["apiVersion"], b["kind"], b["metadata"]["namespace"]) for _, b in seen.values()}
    )
    woken = 0
    for api_version, kind, namespace in places:
        names = await asyncio.to_thread(kube.names, api_version, kind, namespace=namespace)
        for link, body in vanished(seen, api_version, kind, namespace, names):
            if gone is not None:
                gone(body)
            await notify_owner(kube, link, sent, body, deleted=True, seen=seen, going=going)
            woken += 1
    return woken


def _register_sweep(registry: kopf.OperatorRegistry) -> None:
    running: list[asyncio.Task[None]] = []

    @kopf.on.startup(registry=registry, id="sweep-children")
    async def _start(memo: OperatorContext, **_: Any) -> None:
        running.append(asyncio.create_task(_sweep_forever(memo)))

    @kopf.on.cleanup(registry=registry, id="sweep-children")
    async def _stop(**_: Any) -> None:
        for task in running:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _sweep_forever(ctx: OperatorContext) -> None:
    log = logs.get_logger(f"g8s.{ctx.identity.name}")
    while True:
        await asyncio.sleep(ctx.runtime.sweep_interval)
        try:
            gone = ctx.listed.forget if ctx.listed is not None else None
            woken = await sweep(ctx.client(), ctx.sent, ctx.seen, ctx.going, gone)
        except Exception as exc:  # an API server away must not end the sweeping
            log.warning(
                "could not sweep for deleted children", error=f"{type(exc).__name__}: {exc}"
            )
            continue
        if woken:
            log.info("woke the owners of children deleted while no watch ran", children=woken)


def watch_workloads(
    registry: kopf.OperatorRegistry, owner: Kind, resource: tuple[str, str, str]
) -> None:
    """Wake the ``owner`` object when the pods of a workload built for it change readiness.

    ``resource`` is the workload kind (Deployments, StatefulSets); only those
    the owner's operator labelled as its own are watched.
    """
    watch_children(
        registry,
        resource,
        Link(API_VERSION, owner.kind, CHILDREN_ANNOTATION, workload_token),
        labels={MANAGED_BY: managed_by(owner.operator)},
        id=f"watch-{resource[2]}",
    )
