"""Memory of what was applied (shared.kube.applied): when a re-apply can be skipped.

Covered: nothing is skipped before a first apply; the same body on an object
still at the resourceVersion the apply returned is skipped; a changed body,
a moved resourceVersion (another writer, a status update), a deleted object
or a forgotten entry all apply again; key order does not change the digest;
the memory keeps at most its capacity, dropping the oldest entries.
"""

from typing import Any

from shared.kube.applied import Applied, digest


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


def test_any_change_applies_again() -> None:
    applied = Applied()
    applied.remember(service(), live("7"))
    assert not applied.same_body(service(port=81))
    assert not applied.untouched(service(port=81), live("7"))
    assert not applied.untouched(service(), live("8"))  # someone wrote to it
    assert not applied.untouched(service(), None)  # it was deleted
    assert not applied.untouched(service(), service())  # no version: no proof
    applied.remember(service(), live("8"))
    assert applied.untouched(service(), live("8"))
    applied.forget(service())
    assert not applied.same_body(service())


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
