"""What a watch told of an operator's children (shared.kube.versions).

Covered: an event's version is kept and a deletion forgets it; a version
is trusted for max_age after the event that told it, and a read that finds
that version trusts it for max_age more; a read never sets a version (an
event newer than the read must stand) and a read that finds the object
gone forgets it; a body read at the version told is kept (a copy, without
managed fields) until an event, a deletion, a write of the client, a read
finding it gone or max_age ends it; the remembered version of an applied body
(``Applied.version``) is there only for that body.
"""

from typing import Any

from shared.kube.applied import Applied, key
from shared.kube.versions import Versions


def child(version: str = "", name: str = "c1-etcd") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns"}
    if version:
        meta["resourceVersion"] = version
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta}


def clocked(max_age: float = 10.0) -> tuple[Versions, list[float]]:
    now = [100.0]
    return Versions(max_age=max_age, clock=lambda: now[0]), now


def test_an_event_tells_the_version_and_a_deletion_forgets_it() -> None:
    versions, _ = clocked()
    assert versions.current(key(child())) is None
    versions.seen(child("7"), deleted=False)
    versions.seen(child("3", name="other"), deleted=False)
    assert versions.current(key(child())) == "7"
    versions.seen(child("9"), deleted=False)
    assert versions.current(key(child())) == "9"
    versions.seen(child("9"), deleted=True)
    assert versions.current(key(child())) is None
    assert len(versions) == 1


def test_a_version_is_trusted_for_max_age_and_a_read_renews_it() -> None:
    versions, now = clocked(max_age=10.0)
    versions.seen(child("7"), deleted=False)
    now[0] += 9.9
    assert versions.current(key(child())) == "7"
    now[0] += 0.1
    assert versions.current(key(child())) is None
    versions.renew(child("7"))  # a read found the version told
    assert versions.current(key(child())) == "7"
    now[0] += 10.0
    versions.renew(child("8"))  # a read found another one: nothing renewed
    assert versions.current(key(child())) is None


def test_a_read_never_sets_a_version_and_a_missing_object_forgets_it() -> None:
    versions, _ = clocked()
    versions.renew(child("5"))
    assert versions.current(key(child())) is None
    versions.seen(child("8"), deleted=False)
    versions.renew(child("7"))  # older than the event: the event stands
    assert versions.current(key(child())) == "8"
    versions.renew(child(), gone=True)
    assert versions.current(key(child())) is None


def test_the_applied_version_belongs_to_the_body_applied() -> None:
    applied = Applied()
    body = child() | {"spec": {"ports": [{"port": 2379}]}}
    assert applied.version(body) is None
    applied.remember(body, child("7"))
    assert applied.version(body) == "7"
    assert applied.version(child() | {"spec": {"ports": [{"port": 2380}]}}) is None
    applied.remember(body, child())  # an answer without a version proves nothing
    assert applied.version(body) is None


def test_a_body_read_at_the_version_told_is_kept_until_another_is_told() -> None:
    versions, _ = clocked()
    name = key(child())
    versions.keep(child("7"))  # nothing told yet: not kept
    assert versions.body(name) is None
    versions.seen(child("7"), deleted=False)
    versions.keep(child("8"))  # newer than the event told: its event is on its way
    assert versions.body(name) is None
    versions.keep({**child("7"), "spec": {"replicas": 3}})
    kept = versions.body(name)
    assert kept is not None
    assert kept["spec"] == {"replicas": 3}
    kept["spec"]["replicas"] = 5  # a copy: the caller's change stays the caller's
    assert (versions.body(name) or {})["spec"] == {"replicas": 3}
    versions.seen(child("9"), deleted=False)  # a change: the kept body is old
    assert versions.body(name) is None
    versions.seen(child("7"), deleted=False)  # even if a version came back, it was dropped
    assert versions.body(name) is None


def test_a_kept_body_goes_with_a_deletion_a_write_a_missing_read_and_max_age() -> None:
    versions, now = clocked(max_age=10.0)
    name = key(child())

    def kept_again() -> None:
        versions.seen(child("7"), deleted=False)
        versions.keep(child("7"))
        assert versions.body(name) is not None

    kept_again()
    versions.seen(child("7"), deleted=True)
    assert versions.body(name) is None
    kept_again()
    versions.wrote(name)  # the client changed it: the event comes later
    assert versions.body(name) is None
    kept_again()
    versions.renew(child(), gone=True)
    assert versions.body(name) is None
    kept_again()
    now[0] += 10.0  # nothing told for max_age: read again
    assert versions.body(name) is None


def test_a_kept_body_holds_no_managed_fields() -> None:
    versions, _ = clocked()
    versions.seen(child("7"), deleted=False)
    body = child("7")
    body["metadata"]["managedFields"] = [{"manager": "g8s-etcd"}]
    versions.keep(body)
    assert "managedFields" not in (versions.body(key(child())) or {})["metadata"]
