"""Memory of what was applied (shared.kube.applied): when a re-apply can be skipped.

Covered: nothing is skipped before a first apply; the same body on an object
still at the resourceVersion the apply returned is skipped, and so is one
whose resourceVersion moved for fields outside the body (its status, other
writers' labels, defaults inside list items); a changed body, a field of the
body changed or removed by hand, a deleted object or a forgotten entry all
apply again; key order does not change the digest;
the memory keeps at most its capacity, dropping the oldest entries.
"""

import copy
from typing import Any

from shared.kube.applied import Applied, covers, digest


def service(port: int = 80, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "c1-etcd", "namespace": "ns", **meta},
        "spec": {"ports": [{"port": port}]},
    }


def live(version: str) -> dict[str, Any]:
    return service(resourceVersion=version, uid="u1")


def test_first_apply_is_never_skipped() -> None:
    applied = Applied()
    assert not applied.same_body(service())
    assert not applied.untouched(service(), live("7"))


def test_same_body_on_an_untouched_object_is_skipped() -> None:
    applied = Applied()
    applied.remember(service(), live("7"))
    assert applied.same_body(service())
    assert applied.untouched(service(), live("7"))


def test_any_change_to_what_was_applied_applies_again() -> None:
    applied = Applied()
    applied.remember(service(app="x"), live("7"))
    body = service(app="x")
    assert not applied.same_body(service(port=81))
    assert not applied.untouched(service(port=81), live("7"))
    edited = live("8") | {"spec": {"ports": [{"port": 81}]}}  # someone changed the port
    assert not applied.untouched(body, edited)
    assert not applied.untouched(body, None)  # it was deleted
    assert not applied.untouched(body, service())  # no version, not ours: no proof
    applied.remember(body, live("8"))
    assert applied.untouched(body, live("8"))
    applied.forget(body)
    assert not applied.same_body(body)


def test_a_change_outside_what_was_applied_applies_nothing() -> None:
    applied = Applied()
    body = service() | {"metadata": {"name": "c1-etcd", "namespace": "ns", "labels": {"a": "1"}}}
    applied.remember(body, live("7"))
    moved = copy.deepcopy(body)
    moved["metadata"] |= {"resourceVersion": "9", "labels": {"a": "1", "other": "2"}}
    moved["spec"]["ports"][0]["protocol"] = "TCP"  # a default inside a list item
    moved["status"] = {"loadBalancer": {}}
    assert applied.untouched(body, moved)
    moved["metadata"]["labels"] = {"other": "2"}  # our label removed by hand
    assert not applied.untouched(body, moved)


def test_covers_compares_lists_item_by_item_and_ignores_kind() -> None:
    body = {"kind": "X", "apiVersion": "v1", "spec": {"items": [{"a": 1}, {"b": 2}]}}
    assert covers({"spec": {"items": [{"a": 1, "z": 0}, {"b": 2}]}}, body)
    assert not covers({"spec": {"items": [{"a": 1}]}}, body)  # one item gone
    assert not covers({"spec": {"items": [{"b": 2}, {"a": 1}]}}, body)  # order matters
    assert not covers({"spec": {"items": "x"}}, body)
    assert not covers({"spec": {"items": [{"a": 2}, {"b": 2}]}}, body)


def test_key_order_does_not_change_the_digest() -> None:
    body = service()
    reordered = {key: body[key] for key in reversed(list(body))}
    assert digest(reordered) == digest(body)
    assert digest(service(port=81)) != digest(body)


def test_memory_is_bounded_oldest_first() -> None:
    applied = Applied(capacity=2)
    bodies = [service() | {"metadata": {"name": f"s{i}", "namespace": "ns"}} for i in range(3)]
    for body in bodies:
        applied.remember(body, live("1"))
    assert not applied.same_body(bodies[0])
    assert applied.same_body(bodies[1])
    assert applied.same_body(bodies[2])
