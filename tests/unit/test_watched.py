"""Secrets kept by an operator and kept current by its watch (shared/watched.py).

Covers: a labelled Secret is read once and served again without a request;
a watch event replaces its data or forgets it when deleted; a Secret without
the label, or a missing one, is read every time, unless the reader says the
watch will tell of it once made: then its absence is kept until the watch
tells or ``absent_age`` passes; events for Secrets never
asked for are dropped (nothing kept); a read that a watch event overtook
keeps the event's data; an entry older than ``max_age`` is read again; the
kvm operator's steps read a node's certificates once over two looks; the
kopf handler feeds the memo's kept Secrets. The watches of an operator's own
children are filtered by its managed-by label and feed its client's
versions (``shared.kube.versions``). Any kind's objects are kept by the
fields a reader picks (``fields``), once all of them are set, and the kopf
handler feeds what it picks from the memo.
"""

import asyncio
import threading
from collections.abc import Callable, Coroutine
from types import SimpleNamespace
from typing import Any, cast

import kopf

from shared.kube.applied import key
from shared.kube.versions import Versions
from shared.watched import (
    Watched,
    WatchedSecrets,
    children_selectors,
    fields,
    label_selectors,
    watch_certificates,
    watch_kept,
    watch_versions,
)

LABEL = "g8s.io/certificate"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def secret(name: str, value: str, *, labelled: bool = True, ns: str = "ns") -> dict[str, Any]:
    labels = {LABEL: "apiserver"} if labelled else {}
    return {
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "data": {"tls.crt": value},
    }


class Store:
    """Secrets by (namespace, name), counting the reads."""

    def __init__(self, *secrets: dict[str, Any]) -> None:
        self.objects = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in secrets}
        self.reads = 0

    def fetch(self, namespace: str, name: str) -> dict[str, Any] | None:
        self.reads += 1
        return self.objects.get((namespace, name))


def test_a_labelled_secret_is_read_once() -> None:
    store = Store(secret("a", "v1"))
    kept = WatchedSecrets(store.fetch, LABEL)
    assert kept.data("ns", "a") == {"tls.crt": "v1"}
    assert kept.data("ns", "a") == {"tls.crt": "v1"}
    assert store.reads == 1
    assert len(kept) == 1


def test_what_is_served_is_a_copy() -> None:
    kept = WatchedSecrets(Store(secret("a", "v1")).fetch, LABEL)
    kept.data("ns", "a")["tls.crt"] = "changed by a caller"
    assert kept.data("ns", "a") == {"tls.crt": "v1"}


def test_a_watch_event_replaces_the_data() -> None:
    store = Store(secret("a", "v1"))
    kept = WatchedSecrets(store.fetch, LABEL)
    kept.data("ns", "a")
    kept.seen(secret("a", "v2"), deleted=False)
    assert kept.data("ns", "a") == {"tls.crt": "v2"}
    assert store.reads == 1


def test_a_deleted_secret_is_read_again() -> None:
    store = Store(secret("a", "v1"))
    kept = WatchedSecrets(store.fetch, LABEL)
    kept.data("ns", "a")
    del store.objects[("ns", "a")]
    kept.seen(secret("a", "v1"), deleted=True)
    assert kept.data("ns", "a") == {}
    assert store.reads == 2
    assert len(kept) == 0


def test_a_secret_without_the_label_is_read_every_time() -> None:
    # No event would tell of its change, so it is never kept.
    store = Store(secret("enc", "k", labelled=False))
    kept = WatchedSecrets(store.fetch, LABEL)
    kept.data("ns", "enc")
    kept.data("ns", "enc")
    assert store.reads == 2
    assert len(kept) == 0


def test_a_missing_secret_is_read_every_time_and_not_watched() -> None:
    store = Store()
    kept = WatchedSecrets(store.fetch, LABEL)
    assert kept.data("ns", "a") == {}
    # Created meanwhile: its event is dropped, as for any Secret not kept...
    kept.seen(secret("a", "v1"), deleted=False)
    assert len(kept) == 0
    # ...and the next look reads it.
    store.objects[("ns", "a")] = secret("a", "v1")
    assert kept.data("ns", "a") == {"tls.crt": "v1"}
    assert store.reads == 2


def test_a_missing_secret_the_watch_will_tell_of_is_read_once() -> None:
    store = Store()
    kept = WatchedSecrets(store.fetch, LABEL)
    assert kept.data("ns", "a", told_when_made=True) == {}
    assert kept.data("ns", "a", told_when_made=True) == {}
    assert store.reads == 1
    assert len(kept) == 0  # an absence is not a kept Secret
    # Made: the watch tells, and the next look has it without a request.
    store.objects[("ns", "a")] = secret("a", "v1")
    kept.seen(secret("a", "v1"), deleted=False)
    assert kept.data("ns", "a", told_when_made=True) == {"tls.crt": "v1"}
    assert store.reads == 1


def test_a_kept_absence_is_asked_again_after_absent_age() -> None:
    # The bound of the wait if the watch missed the Secret's creation.
    store, clock = Store(), Clock()
    kept = WatchedSecrets(store.fetch, LABEL, clock=clock, absent_age=60)
    kept.data("ns", "a", told_when_made=True)
    store.objects[("ns", "a")] = secret("a", "v1")
    clock.now = 59
    assert kept.data("ns", "a", told_when_made=True) == {}
    clock.now = 60
    assert kept.data("ns", "a", told_when_made=True) == {"tls.crt": "v1"}
    assert store.reads == 2


def test_a_missing_read_overtaken_by_the_creation_keeps_the_creation() -> None:
    # The 404 was answered before the Secret was made, and its event came
    # before the 404 was stored: the Secret is what is kept, not its absence.
    store = Store()

    def fetch_then_made(namespace: str, name: str) -> dict[str, Any] | None:
        missing = store.fetch(namespace, name)
        kept.seen(secret("a", "v1"), deleted=False)
        return missing

    kept = WatchedSecrets(fetch_then_made, LABEL)
    assert kept.data("ns", "a", told_when_made=True) == {}
    assert kept.data("ns", "a", told_when_made=True) == {"tls.crt": "v1"}
    assert store.reads == 1


def test_a_deletion_during_a_missing_read_keeps_no_absence() -> None:
    store = Store()

    def fetch_then_deleted(namespace: str, name: str) -> dict[str, Any] | None:
        missing = store.fetch(namespace, name)
        kept.seen(secret("a", "v1"), deleted=True)
        return missing

    kept = WatchedSecrets(fetch_then_deleted, LABEL)
    kept.data("ns", "a", told_when_made=True)
    kept.data("ns", "a", told_when_made=True)
    assert store.reads == 2


def test_events_of_secrets_never_asked_for_keep_nothing() -> None:
    kept = WatchedSecrets(Store().fetch, LABEL)
    for i in range(50):
        kept.seen(secret(f"s{i}", "v"), deleted=False)
    assert len(kept) == 0


def test_the_same_name_in_another_namespace_is_another_secret() -> None:
    store = Store(secret("a", "one", ns="n1"), secret("a", "two", ns="n2"))
    kept = WatchedSecrets(store.fetch, LABEL)
    assert kept.data("n1", "a") == {"tls.crt": "one"}
    assert kept.data("n2", "a") == {"tls.crt": "two"}
    kept.seen(secret("a", "three", ns="n2"), deleted=False)
    assert kept.data("n1", "a") == {"tls.crt": "one"}
    assert kept.data("n2", "a") == {"tls.crt": "three"}


def test_a_read_overtaken_by_an_event_keeps_the_event() -> None:
    # The read answered with v1, but the watch delivered v2 before the read
    # was stored: v2 is newer and is what is kept.
    read_started, event_done = threading.Event(), threading.Event()

    def slow_fetch(namespace: str, name: str) -> dict[str, Any]:
        read_started.set()
        event_done.wait(5)
        return secret("a", "v1")

    kept = WatchedSecrets(slow_fetch, LABEL)
    reader = threading.Thread(target=kept.data, args=("ns", "a"))
    reader.start()
    assert read_started.wait(5)
    kept.seen(secret("a", "v2"), deleted=False)
    event_done.set()
    reader.join(5)
    assert kept.data("ns", "a") == {"tls.crt": "v2"}


def test_a_kept_secret_is_read_again_after_max_age() -> None:
    store = Store(secret("a", "v1"))
    clock = Clock()
    kept = WatchedSecrets(store.fetch, LABEL, max_age=600, clock=clock)
    kept.data("ns", "a")
    clock.now = 599
    kept.data("ns", "a")
    assert store.reads == 1
    store.objects[("ns", "a")] = secret("a", "v2")
    clock.now = 600
    assert kept.data("ns", "a") == {"tls.crt": "v2"}
    assert store.reads == 2


def test_the_api_server_filters_the_watch_by_the_label() -> None:
    assert label_selectors(LABEL) == {("", "v1", "secrets"): LABEL}


def test_the_watch_handler_feeds_the_memos_secrets() -> None:
    registry = kopf.OperatorRegistry()
    watch_certificates(registry)
    (handler,) = [h for h in registry._watching.get_all_handlers() if h.id == "watched-secrets"]
    on_event = cast(Callable[..., Coroutine[Any, Any, None]], handler.fn)
    store = Store(secret("a", "v1"))
    memo = SimpleNamespace(secrets=WatchedSecrets(store.fetch, LABEL))
    memo.secrets.data("ns", "a")
    asyncio.run(on_event(body=secret("a", "v2"), type="MODIFIED", memo=memo))
    assert memo.secrets.data("ns", "a") == {"tls.crt": "v2"}
    asyncio.run(on_event(body=secret("a", "v2"), type="DELETED", memo=memo))
    assert len(memo.secrets) == 0
    # An operator without kept Secrets ignores the events.
    asyncio.run(on_event(body=secret("a", "v3"), type=None, memo=SimpleNamespace(secrets=None)))


def test_the_versions_watches_take_only_the_operators_own_children() -> None:
    resources = (("apps", "v1", "deployments"), ("", "v1", "persistentvolumeclaims"))
    selector = "app.kubernetes.io/managed-by=g8s-kvm"
    assert children_selectors("kvm", resources) == dict.fromkeys(resources, selector)
    registry = kopf.OperatorRegistry()
    watch_versions(registry, "kvm", resources)
    handlers = [h for h in registry._watching.get_all_handlers() if h.id.startswith("versions-")]
    ids = sorted(h.id for h in handlers)
    assert ids == ["versions-deployments", "versions-persistentvolumeclaims"]
    assert all(h.labels == {"app.kubernetes.io/managed-by": "g8s-kvm"} for h in handlers)


def test_the_versions_watch_handler_feeds_the_clients_versions() -> None:
    registry = kopf.OperatorRegistry()
    watch_versions(registry, "kvm", (("", "v1", "persistentvolumeclaims"),))
    (handler,) = registry._watching.get_all_handlers()
    on_event = cast(Callable[..., Coroutine[Any, Any, None]], handler.fn)
    versions = Versions()
    memo = SimpleNamespace(client=lambda: SimpleNamespace(versions=versions))
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "n-disk", "namespace": "ns", "resourceVersion": "4"},
    }
    asyncio.run(on_event(body=claim, type="MODIFIED", memo=memo))
    assert versions.current(key(claim)) == "4"
    asyncio.run(on_event(body=claim, type="DELETED", memo=memo))
    assert versions.current(key(claim)) is None
    # A client without versions ignores the events.
    idle = SimpleNamespace(client=lambda: SimpleNamespace(versions=None))
    asyncio.run(on_event(body=claim, type=None, memo=idle))


def network(name: str, **status: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns"}, "status": status}


NETWORK = fields(("status", "subnet"), ("status", "gateway"))


def test_fields_pick_the_named_strings_or_nothing() -> None:
    assert NETWORK(network("n", subnet="198.19.0.0/26", gateway="198.19.0.1", bridge="b")) == {
        "subnet": "198.19.0.0/26",
        "gateway": "198.19.0.1",
    }
    assert NETWORK(network("n", subnet="198.19.0.0/26")) == {}  # not all set yet
    assert NETWORK(None) == {}
    # A headless Service's ClusterIP is the word None: no address.
    service = {"metadata": {"name": "s"}, "spec": {"clusterIP": "None"}}
    assert fields(("spec", "clusterIP"))(service) == {}


def test_a_kept_object_is_read_once_until_incomplete_values_are_complete() -> None:
    store = Store(network("n", subnet="198.19.0.0/26"))
    kept = Watched(store.fetch, NETWORK, keep=lambda _: True)
    assert kept.data("ns", "n") == {}  # not complete: read again next time
    assert kept.data("ns", "n") == {}
    assert store.reads == 2
    store.objects[("ns", "n")] = network("n", subnet="198.19.0.0/26", gateway="198.19.0.1")
    assert kept.data("ns", "n") == {"subnet": "198.19.0.0/26", "gateway": "198.19.0.1"}
    assert kept.data("ns", "n") == {"subnet": "198.19.0.0/26", "gateway": "198.19.0.1"}
    assert store.reads == 3
    kept.seen(network("n", subnet="198.19.0.64/26", gateway="198.19.0.65"), deleted=False)
    assert kept.data("ns", "n") == {"subnet": "198.19.0.64/26", "gateway": "198.19.0.65"}
    assert store.reads == 3


def test_the_kept_watch_handler_feeds_what_it_picks_from_the_memo() -> None:
    registry = kopf.OperatorRegistry()
    watch_kept(registry, ("g8s.io", "v1alpha1", "clusternetworks"), lambda memo: memo.networks)
    (handler,) = registry._watching.get_all_handlers()
    on_event = cast(Callable[..., Coroutine[Any, Any, None]], handler.fn)
    store = Store(network("n", subnet="198.19.0.0/26", gateway="198.19.0.1"))
    memo = SimpleNamespace(networks=Watched(store.fetch, NETWORK, keep=lambda _: True))
    memo.networks.data("ns", "n")
    changed = network("n", subnet="198.19.1.0/26", gateway="198.19.1.1")
    asyncio.run(on_event(body=changed, type="MODIFIED", memo=memo))
    assert memo.networks.data("ns", "n")["subnet"] == "198.19.1.0/26"
    asyncio.run(on_event(body=changed, type="DELETED", memo=memo))
    assert len(memo.networks) == 0
    asyncio.run(on_event(body=changed, type=None, memo=SimpleNamespace(networks=None)))
