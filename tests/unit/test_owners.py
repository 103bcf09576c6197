"""A child's change wakes its owner (shared.owners): which events write, and what.

Covered: a child with no owner of the linked kind writes nothing; the first
event of a child writes its token on the owner; a repeated event with the
same token writes nothing; a changed token writes again; changes that come
while a write to their owner is in flight ride on one more write, of the
latest token, and are all remembered; a deletion always
writes (a ``deleted/`` token) and forgets the child; an owner that is gone
(404) is ignored and not remembered; other API errors propagate; an
operator's own workloads wake their owner through the operator's context;
a sweep wakes the owner of a child seen alive that a listing no longer has
(deleted while no watch ran), once, and nobody else.
The notifier runs with an in-memory patcher; no API server, no kopf loop.
"""

import asyncio
import threading
import time
from collections.abc import Mapping
from typing import Any, cast

import kopf
import pytest

from shared.api.kinds import KVM_NODE
from shared.errors import ApiError
from shared.identity import OperatorIdentity
from shared.kube import Kube, ObjectRef
from shared.metrics import OperatorMetrics
from shared.owners import (
    DELETED,
    GOING_SECONDS,
    Link,
    deleting,
    notice,
    notify_owner,
    sweep,
    watch_workloads,
    workload_token,
)
from shared.runtime import OperatorContext
from shared.settings import RuntimeSettings

LINK = Link("g8s.io/v1alpha1", "KVMNode", "g8s.io/children", lambda b: str(b["status"]["ready"]))


def child(ready: int, *, owner: str | None = "n1") -> dict[str, Any]:
    refs = (
        [{"apiVersion": "g8s.io/v1alpha1", "kind": "KVMNode", "name": owner, "uid": f"uid-{owner}"}]
        if owner
        else []
    )
    return {
        "kind": "Deployment",
        "metadata": {"name": "n1", "namespace": "ns", "ownerReferences": refs},
        "status": {"ready": ready},
    }


class Patches:
    """Records merge patches; fails with ``status`` when set."""

    def __init__(self, status: int = 0) -> None:
        self.calls: list[tuple[ObjectRef, Mapping[str, Any]]] = []
        self.status = status

    def patch(self, ref: ObjectRef, body: Mapping[str, Any]) -> dict[str, Any]:
        if self.status:
            raise ApiError(self.status, "Failed", "failed")
        self.calls.append((ref, body))
        return {}

    def tokens(self) -> list[str]:
        return [str(b["metadata"]["annotations"]["g8s.io/children"]) for _, b in self.calls]


def test_no_owner_of_the_linked_kind_no_notice() -> None:
    assert notice(LINK, {}, child(1, owner=None), deleted=False) is None
    other = child(1)
    other["metadata"]["ownerReferences"][0]["kind"] = "Cluster"
    assert notice(LINK, {}, other, deleted=False) is None


def test_notice_names_the_owner_and_only_a_changed_token() -> None:
    first = notice(LINK, {}, child(0), deleted=False)
    assert first is not None
    assert first.owner == ObjectRef("g8s.io/v1alpha1", "KVMNode", "n1", "ns")
    assert first.token == "0"
    assert notice(LINK, {first.key: "0"}, child(0), deleted=False) is None
    changed = notice(LINK, {first.key: "0"}, child(1), deleted=False)
    assert changed is not None
    assert changed.token == "1"
    gone = notice(LINK, {first.key: "1"}, child(1), deleted=True)
    assert gone is not None
    assert gone.token.startswith(DELETED)


def test_notifier_writes_once_per_change_and_on_deletion() -> None:
    kube, sent = Patches(), dict[str, str]()
    for ready in (0, 0, 1, 1, 1):
        asyncio.run(notify_owner(kube, LINK, sent, child(ready), deleted=False))
    assert kube.tokens() == ["0", "1"]
    asyncio.run(notify_owner(kube, LINK, sent, child(1), deleted=True))
    assert kube.tokens()[-1] == DELETED + "/ns/Deployment/n1"
    assert sent == {}
    # Re-created with the same state: announced again.
    asyncio.run(notify_owner(kube, LINK, sent, child(1), deleted=False))
    assert kube.tokens()[-1] == "1"
    assert len(kube.calls) == 4


class SlowPatches(Patches):
    """Holds every write until ``go`` is set, as a busy API server would."""

    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Event()
        self.started = threading.Event()

    def patch(self, ref: ObjectRef, body: Mapping[str, Any]) -> dict[str, Any]:
        self.started.set()
        self.go.wait(5)
        return super().patch(ref, body)


def _named_child(name: str, ready: int) -> dict[str, Any]:
    body = child(ready)
    body["metadata"]["name"] = name
    return body


def test_children_changing_while_their_owner_is_written_ride_on_one_more_write() -> None:
    kube, sent = SlowPatches(), dict[str, str]()

    async def burst() -> None:
        first = asyncio.create_task(
            notify_owner(kube, LINK, sent, _named_child("a", 1), deleted=False)
        )
        await asyncio.to_thread(kube.started.wait, 5)
        for name, ready in (("a", 1), ("b", 1), ("c", 1), ("d", 2)):
            await notify_owner(kube, LINK, sent, _named_child(name, ready), deleted=False)
        assert len(kube.calls) == 0  # all of them wait for the write in flight
        kube.go.set()
        await first

    asyncio.run(burst())
    assert kube.tokens() == ["1", "2"]  # the first change, then the latest of the rest
    assert sent == {
        f"ns/Deployment/{n}": t for n, t in (("a", "1"), ("b", "1"), ("c", "1"), ("d", "2"))
    }
    # Remembered: the same states again write nothing.
    for name, ready in (("b", 1), ("d", 2)):
        asyncio.run(notify_owner(kube, LINK, sent, _named_child(name, ready), deleted=False))
    assert len(kube.calls) == 2


def test_a_child_deleted_again_after_it_was_made_again_wakes_its_owner_again() -> None:
    kube, sent = Patches(), dict[str, str]()
    for uid in ("u1", "u2"):
        body = child(1)
        body["metadata"]["uid"] = uid
        asyncio.run(notify_owner(kube, LINK, sent, body, deleted=False))
        asyncio.run(notify_owner(kube, LINK, sent, body, deleted=True))
    deletions = [t for t in kube.tokens() if t.startswith(DELETED)]
    assert len(deletions) == len(set(deletions)) == 2


def test_an_owner_being_deleted_is_woken_no_more() -> None:
    # A write between kopf's two finalizer patches would make it run the
    # deletion handler again; the handler retries on its own timer anyway.
    kube, sent, going = Patches(), dict[str, str](), dict[str, float]()
    deleting(going, {"metadata": {"name": "n1", "uid": "uid-n1"}})
    asyncio.run(notify_owner(kube, LINK, sent, child(1), deleted=False, going=going))
    asyncio.run(notify_owner(kube, LINK, sent, child(1), deleted=True, going=going))
    assert kube.calls == []
    # Another owner is still woken.
    other = child(1, owner="n2")
    asyncio.run(notify_owner(kube, LINK, sent, other, deleted=True, going=going))
    assert len(kube.calls) == 1


def test_owners_whose_handler_ran_long_ago_are_forgotten() -> None:
    going = {"uid-old": time.monotonic() - GOING_SECONDS - 1}
    deleting(going, {"metadata": {"uid": "uid-new"}})
    assert set(going) == {"uid-new"}
    # A deletion that outlasts GOING_SECONDS stays unwoken while its handler
    # runs: each call renews the owner's time.
    going["uid-new"] -= GOING_SECONDS + 1
    deleting(going, {"metadata": {"uid": "uid-new"}})
    assert time.monotonic() - going["uid-new"] < GOING_SECONDS


def test_gone_owner_is_ignored_and_not_remembered() -> None:
    sent = dict[str, str]()
    asyncio.run(notify_owner(Patches(404), LINK, sent, child(1), deleted=False))
    assert sent == {}
    with pytest.raises(ApiError):
        asyncio.run(notify_owner(Patches(500), LINK, sent, child(1), deleted=False))
    assert sent == {}


class Listing(Patches):
    """Patches, and the names a metadata listing returns per (kind, namespace)."""

    def __init__(self, present: dict[tuple[str, str], set[str]]) -> None:
        super().__init__()
        self.present = present
        self.listed: list[tuple[str, str, str]] = []

    def names(self, api_version: str, kind: str, *, namespace: str) -> set[str]:
        self.listed.append((api_version, kind, namespace))
        return self.present.get((kind, namespace), set())


def _named(name: str, namespace: str = "ns") -> dict[str, Any]:
    body = child(1)
    body["apiVersion"] = "apps/v1"
    body["metadata"].update(name=name, namespace=namespace, uid=f"uid-{name}")
    return body


def test_a_sweep_wakes_the_owner_of_a_child_deleted_while_no_watch_ran() -> None:
    sent, seen = dict[str, str](), dict[str, Any]()
    setup = Patches()
    for body in (_named("kept"), _named("gone"), _named("elsewhere", "other")):
        asyncio.run(notify_owner(setup, LINK, sent, body, deleted=False, seen=seen))
    kube = Listing({("Deployment", "ns"): {"kept"}, ("Deployment", "other"): {"elsewhere"}})

    assert asyncio.run(sweep(kube, sent, seen)) == 1
    assert kube.tokens() == [f"{DELETED}uid-gone/ns/Deployment/gone"]
    assert sorted(kube.listed) == [
        ("apps/v1", "Deployment", "ns"),
        ("apps/v1", "Deployment", "other"),
    ]
    # Forgotten once announced: the next sweep wakes nobody.
    assert asyncio.run(sweep(kube, sent, seen)) == 0
    assert len(kube.calls) == 1


def test_a_sweep_tells_gone_of_each_vanished_child_first() -> None:
    sent, seen = dict[str, str](), dict[str, Any]()
    for body in (_named("kept"), _named("gone")):
        asyncio.run(notify_owner(Patches(), LINK, sent, body, deleted=False, seen=seen))
    told: list[str] = []
    kube = Listing({("Deployment", "ns"): {"kept"}})
    woken = asyncio.run(sweep(kube, sent, seen, gone=lambda b: told.append(b["metadata"]["name"])))
    assert (woken, told) == (1, ["gone"])


def test_a_child_seen_deleted_is_not_swept() -> None:
    sent, seen = dict[str, str](), dict[str, Any]()
    asyncio.run(notify_owner(Patches(), LINK, sent, _named("gone"), deleted=False, seen=seen))
    asyncio.run(notify_owner(Patches(), LINK, sent, _named("gone"), deleted=True, seen=seen))
    kube = Listing({})
    assert asyncio.run(sweep(kube, sent, seen)) == 0
    assert kube.listed == []


def _deployment(ready: int, available: int, **meta: Any) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {"name": "n1", "generation": 1, **meta},
        "status": {"replicas": 1, "readyReplicas": ready, "availableReplicas": available},
    }


def test_workload_token_changes_with_readiness_and_deletion_only() -> None:
    base = workload_token(_deployment(0, 0))
    # No status at all reads as nothing ready.
    assert workload_token({"kind": "Deployment", "metadata": {"name": "n1"}}) == base
    # A new generation (the KVMNode's own write) is not news to the KVMNode.
    assert workload_token(_deployment(0, 0, generation=2)) == base
    ready = workload_token(_deployment(1, 0))
    available = workload_token(_deployment(1, 1))
    deleting = workload_token(_deployment(1, 1, deletionTimestamp="2026-01-01T00:00:00Z"))
    assert len({base, ready, available, deleting}) == 4


def test_own_workloads_wake_their_owner_through_the_context() -> None:
    registry = kopf.OperatorRegistry()
    watch_workloads(registry, KVM_NODE, ("apps", "v1", "deployments"))
    (handler,) = registry._watching.get_all_handlers()
    assert handler.id == "watch-deployments"
    assert handler.labels == {"app.kubernetes.io/managed-by": "g8s-kvm"}
    patches = Patches()
    ctx = OperatorContext(
        OperatorIdentity("kvm"), RuntimeSettings(), OperatorMetrics("kvm"), kube=cast(Kube, patches)
    )
    owner = {"apiVersion": "g8s.io/v1alpha1", "kind": "KVMNode", "name": "n1"}
    body = _deployment(1, 1, namespace="ns", ownerReferences=[owner])
    # kopf's own call passes a dozen more keyword arguments the handler ignores.
    event: Any = handler.fn
    asyncio.run(event(body=body, type="MODIFIED", memo=ctx))
    assert [ref for ref, _ in patches.calls] == [
        ObjectRef("g8s.io/v1alpha1", "KVMNode", "n1", "ns")
    ]
    assert ctx.sent == {"ns/Deployment/n1": workload_token(body)}
