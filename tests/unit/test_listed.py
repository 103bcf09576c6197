"""shared.listed: an owner's children listed once, then kept current by watch events."""

import json
from collections.abc import Callable
from typing import Any

from shared.listed import Listed

GROUP = ("ns", "Certificate", "c1")


def child(
    name: str, *, cluster: str = "c1", kind: str = "Certificate", **status: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "g8s.io/v1alpha1",
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": "ns",
            "labels": {"g8s.io/cluster": cluster},
            "managedFields": [{"manager": "g8s-cluster"}],
        },
        "status": dict(status),
    }


class Lister:
    """A listing of the group that counts its calls; ``during`` runs while it is in flight."""

    def __init__(self, *items: dict[str, Any]) -> None:
        self.items = list(items)
        self.calls = 0
        self.during: Callable[[], None] | None = None

    def __call__(self) -> list[dict[str, Any]]:
        self.calls += 1
        if self.during is not None:
            self.during()
        return [dict(item) for item in self.items]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def names(items: list[dict[str, Any]]) -> list[str]:
    return sorted(item["metadata"]["name"] for item in items)


def listed(clock: Clock | None = None) -> Listed:
    return Listed("g8s.io/cluster", max_age=600.0, clock=clock or Clock())


def test_a_group_is_listed_once_then_answered_from_memory() -> None:
    store, lister = listed(), Lister(child("a"), child("b"))
    assert names(store.children(GROUP, lister)) == ["a", "b"]
    assert names(store.children(GROUP, lister)) == ["a", "b"]
    assert lister.calls == 1
    assert store.listings == 1


def test_events_after_the_listing_change_what_the_next_look_finds() -> None:
    store, lister = listed(), Lister(child("a"), child("b"))
    store.children(GROUP, lister)
    store.seen(child("a", ready="True"), deleted=False)
    store.seen(child("c"), deleted=False)
    store.seen(child("b"), deleted=True)
    found = {item["metadata"]["name"]: item for item in store.children(GROUP, lister)}
    assert sorted(found) == ["a", "c"]
    assert found["a"]["status"] == {"ready": "True"}
    assert lister.calls == 1


def test_a_listing_an_event_overtook_is_not_kept() -> None:
    store, lister = listed(), Lister(child("a"))
    lister.during = lambda: store.seen(child("b"), deleted=False)
    # This look gets the listing as it came; the next one lists again.
    assert names(store.children(GROUP, lister)) == ["a"]
    lister.during = None
    lister.items.append(child("b"))
    assert names(store.children(GROUP, lister)) == ["a", "b"]
    assert names(store.children(GROUP, lister)) == ["a", "b"]
    assert lister.calls == 2


def test_events_of_a_group_never_looked_at_are_not_kept() -> None:
    store = listed()
    store.seen(child("a", cluster="other"), deleted=False)
    store.seen({"kind": "Certificate", "metadata": {"name": "x", "namespace": "ns"}}, deleted=False)
    assert len(store) == 0


def test_a_child_the_operator_made_is_seen_before_its_event() -> None:
    store, lister = listed(), Lister(child("a"))
    store.children(GROUP, lister)
    store.put(child("new"))
    # A group never listed takes no write: its first look lists.
    store.put(child("x", cluster="other"))
    assert names(store.children(GROUP, lister)) == ["a", "new"]
    assert len(store) == 2


def test_a_late_answer_undoes_no_event() -> None:
    store, lister = listed(), Lister(child("a"))
    store.children(GROUP, lister)
    # Another operator made "a" Ready after this one's write, whose answer
    # comes after that event: the event holds.
    store.seen(child("a", ready="True"), deleted=False)
    store.put(child("a"))
    # A child the watch told deleted is not brought back by an answer.
    store.seen(child("b"), deleted=False)
    store.seen(child("b"), deleted=True)
    store.put(child("b"))
    found = store.children(GROUP, lister)
    assert [(item["metadata"]["name"], item["status"]) for item in found] == [
        ("a", {"ready": "True"})
    ]


def test_a_child_the_sweep_found_gone_makes_its_group_listed_again() -> None:
    store, lister = listed(), Lister(child("a"), child("b"))
    store.children(GROUP, lister)
    lister.items = [child("b")]
    # The sweep knows a child by name, namespace and owners; not by its labels.
    store.forget({"kind": "Certificate", "metadata": {"name": "a", "namespace": "ns"}})
    assert names(store.children(GROUP, lister)) == ["b"]
    assert lister.calls == 2
    # A name the group never held changes nothing.
    store.forget({"kind": "Certificate", "metadata": {"name": "x", "namespace": "ns"}})
    store.children(GROUP, lister)
    assert lister.calls == 2


def test_a_listing_is_trusted_for_max_age() -> None:
    clock = Clock()
    store, lister = listed(clock), Lister(child("a"))
    store.children(GROUP, lister)
    clock.now = 599.0
    store.children(GROUP, lister)
    assert lister.calls == 1
    clock.now = 600.0
    lister.items = [child("b")]
    assert names(store.children(GROUP, lister)) == ["b"]
    assert lister.calls == 2


def test_a_stale_group_is_listed_at_its_next_look() -> None:
    store, lister = listed(), Lister(child("a"))
    store.children(GROUP, lister)
    lister.items = []
    store.stale(GROUP)
    assert store.children(GROUP, lister) == []
    assert lister.calls == 2


def test_kept_children_carry_no_managed_fields() -> None:
    store, lister = listed(), Lister(child("a"))
    store.children(GROUP, lister)
    store.seen(child("b"), deleted=False)
    for item in store.children(GROUP, lister):
        assert "managedFields" not in item["metadata"]
        assert item["metadata"]["labels"] == {"g8s.io/cluster": "c1"}


def test_kept_children_drop_kopfs_copy_of_the_spec_and_share_their_short_strings() -> None:
    def annotated(name: str) -> dict[str, Any]:
        body = child(name, phase="Ready", conditions=[{"type": "Ready", "status": "True"}])
        body["metadata"]["annotations"] = {
            "certificates.g8s.io/last-handled-configuration": '{"spec": {}}',
            "g8s.io/children": "x",
        }
        body["status"]["certificate"] = "-" * 100
        # Parsed apart, as each watch event is: equal strings, separate objects.
        parsed: dict[str, Any] = json.loads(json.dumps(body))
        return parsed

    store = listed()
    store.children(GROUP, Lister(annotated("a")))
    store.seen(annotated("b"), deleted=False)
    a, b = sorted(store.children(GROUP, Lister()), key=lambda item: item["metadata"]["name"])
    assert a["metadata"]["annotations"] == {"g8s.io/children": "x"}
    assert {**a["status"]} == {**annotated("a")["status"]}
    # One copy of each key and short value for all kept children; long ones are their own.
    ready_a, ready_b = a["status"]["conditions"][0], b["status"]["conditions"][0]
    assert next(iter(ready_a)) is next(iter(ready_b))
    assert ready_a["status"] is ready_b["status"]
    assert a["status"]["certificate"] == b["status"]["certificate"]
    assert a["status"]["certificate"] is not b["status"]["certificate"]


def test_a_dropped_group_keeps_nothing_and_is_listed_again() -> None:
    store, lister = listed(), Lister(child("a"))
    store.children(GROUP, lister)
    store.drop(GROUP)
    assert len(store) == 0
    store.seen(child("b"), deleted=False)
    assert len(store) == 0
    store.children(GROUP, lister)
    assert lister.calls == 2


def test_groups_are_apart_by_kind_and_label() -> None:
    store = listed()
    nodes = ("ns", "KVMNode", "c1")
    store.children(GROUP, Lister(child("a")))
    store.children(nodes, Lister(child("n", kind="KVMNode")))
    store.seen(child("m", kind="KVMNode"), deleted=False)
    assert names(store.children(GROUP, Lister())) == ["a"]
    assert names(store.children(nodes, Lister())) == ["m", "n"]


def versioned(name: str, version: str, **status: Any) -> dict[str, Any]:
    body = child(name, **status)
    body["metadata"]["resourceVersion"] = version
    return body


def test_an_event_older_than_the_kept_child_is_handled_late_and_changes_nothing() -> None:
    # The listing saw version 120; the operator handles the event of 100 after it.
    store = listed()
    store.children(GROUP, Lister(versioned("a", "120", observedGeneration=1)))
    store.seen(versioned("a", "100", observedGeneration=0), deleted=False)
    assert store.children(GROUP, Lister())[0]["status"] == {"observedGeneration": 1}
    store.seen(versioned("a", "130", observedGeneration=2), deleted=False)
    assert store.children(GROUP, Lister())[0]["status"] == {"observedGeneration": 2}
    # A late deletion of an earlier object of that name keeps the one made since.
    store.seen(versioned("a", "110"), deleted=True)
    assert [item["metadata"]["name"] for item in store.children(GROUP, Lister())] == ["a"]
    store.seen(versioned("a", "140"), deleted=True)
    assert store.children(GROUP, Lister()) == []


def test_versions_not_comparable_leave_the_event_the_last_word() -> None:
    for kept, event in (("120", "abc"), ("120", "0100"), ("x1", "100"), ("120", "")):
        store = listed()
        store.children(GROUP, Lister(versioned("a", kept, observedGeneration=1)))
        store.seen(versioned("a", event, observedGeneration=0), deleted=False)
        assert store.children(GROUP, Lister())[0]["status"] == {"observedGeneration": 0}, event
