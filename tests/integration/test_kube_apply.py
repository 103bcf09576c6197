"""The Kubernetes adapter skips re-applying what nobody touched (real kube-apiserver).

Covered: a first apply is sent; the same body again is not (the API server's
own ``apiserver_request_total`` for APPLY on configmaps does not move, and the
object is returned as it is); after another writer changes the object, the
same body is sent again and restores the operator's field; a change outside
the body (another writer's label) sends nothing, after a read or with the
object as the caller listed it; after a deletion it is created again.
``ensure`` sends no request at all while the version a watch told is the
one its own apply or read left the object at, and reads (and restores
what was changed) when the watch told of a change, of a deletion, or of
nothing for longer than the versions are trusted. ``read`` answers from
the body it last read, sending nothing, while the watch told of no change,
and reads again after a change, its own write or a deletion.
``names`` lists the names of a kind in a namespace and nothing else. The
readiness probe the kvm operator asks a control plane (``GET
/readyz?verbose``) answers "no failing checks" from a running server. A
write in a namespace being deleted is refused in words that
``shared.errors`` recognises as final.
"""

import re
import secrets
from typing import Any

import pytest

from shared.errors import ApiError, namespace_terminating, translate
from shared.kube import Kube, ObjectRef, connect
from shared.kube.ratelimit import TokenBucket
from shared.kube.versions import Versions
from tests.localenv import LocalEnv

METRIC = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$", re.M)


def applies_of_configmaps(env: LocalEnv) -> float:
    text = env.kubectl("get", "--raw", "/metrics").stdout
    total = 0.0
    for match in METRIC.finditer(text):
        labels = match.group("labels")
        if 'verb="APPLY"' in labels and 'resource="configmaps"' in labels:
            total += float(match.group("value"))
    return total


def members_configmap(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"members": "a,b,c"},
    }


def test_unchanged_reapply_sends_no_write(
    local_env: LocalEnv, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(local_env.kubeconfig))
    kube = Kube(connect(), "g8s-test-applied")
    name = f"applied-{secrets.token_hex(3)}"
    body = members_configmap(name, namespace)
    ref = ObjectRef("v1", "ConfigMap", name, namespace)

    start = applies_of_configmaps(local_env)
    first = kube.apply(body)
    assert applies_of_configmaps(local_env) == start + 1

    again = kube.apply(body)
    assert applies_of_configmaps(local_env) == start + 1
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]

    local_env.kubectl(
        "patch", "configmap", name, "-n", namespace, "--type=merge",
        "-p", '{"data": {"members": "x"}}',
    )  # fmt: skip
    restored = kube.apply(body)
    assert applies_of_configmaps(local_env) == start + 2
    assert restored["data"] == {"members": "a,b,c"}

    # Another writer's label moves the resourceVersion but leaves ours: no write,
    # neither after a read nor with the object as the caller listed it.
    local_env.kubectl("label", "configmap", name, "-n", namespace, "other=1")
    kept = kube.apply(body)
    assert applies_of_configmaps(local_env) == start + 2
    assert kept["metadata"]["labels"] == {"other": "1"}
    listed = kube.list("v1", "ConfigMap", namespace=namespace)
    kube.apply(body, current=next(i for i in listed if i["metadata"]["name"] == name))
    assert applies_of_configmaps(local_env) == start + 2

    assert kube.delete(ref)
    recreated = kube.apply(body)
    assert applies_of_configmaps(local_env) == start + 3
    assert recreated["metadata"]["uid"] != first["metadata"]["uid"]


def test_ensure_sends_nothing_while_the_watch_tells_of_no_change(
    local_env: LocalEnv, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(local_env.kubeconfig))
    sent: list[str] = []
    now = [0.0]
    versions = Versions(max_age=600.0, clock=lambda: now[0])
    limit = TokenBucket(qps=0, burst=1, on_take=lambda _waited, what: sent.append(what))
    kube = Kube(connect(), "g8s-test-ensure", limit=limit, versions=versions)
    name = f"ensured-{secrets.token_hex(3)}"
    body = members_configmap(name, namespace)
    ref = ObjectRef("v1", "ConfigMap", name, namespace)

    def told() -> None:
        """What the operator's watch would tell: the object as it is now."""
        live = kube.get(ref)
        if live is None:
            versions.seen(body, deleted=True)
        else:
            versions.seen(live, deleted=False)
        sent.clear()

    def ensured() -> list[str]:
        sent.clear()
        kube.ensure(body)
        return list(sent)

    assert ensured() == ["APPLY ConfigMap"]  # nothing told yet: applied
    told()
    assert ensured() == []  # the version the apply left: nothing sent

    local_env.kubectl("label", "configmap", name, "-n", namespace, "other=1")
    told()
    assert ensured() == ["GET ConfigMap"]  # moved, but our body is there: read only
    assert ensured() == []  # that read's version is the one told now

    local_env.kubectl(
        "patch", "configmap", name, "-n", namespace, "--type=merge",
        "-p", '{"data": {"members": "x"}}',
    )  # fmt: skip
    told()
    assert ensured() == ["GET ConfigMap", "APPLY ConfigMap"]
    assert (kube.get(ref) or {})["data"] == {"members": "a,b,c"}
    told()
    assert ensured() == []

    now[0] += 600.0  # nothing told for max_age: read once, then trusted again
    assert ensured() == ["GET ConfigMap"]
    assert ensured() == []

    assert kube.delete(ref)
    told()
    assert ensured() == ["GET ConfigMap", "APPLY ConfigMap"]  # told of the deletion: made again
    assert kube.get(ref) is not None


def test_read_sends_nothing_while_the_watch_tells_of_no_change(
    local_env: LocalEnv, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(local_env.kubeconfig))
    sent: list[str] = []
    versions = Versions(max_age=600.0)
    limit = TokenBucket(qps=0, burst=1, on_take=lambda _waited, what: sent.append(what))
    kube = Kube(connect(), "g8s-test-read", limit=limit, versions=versions)
    name = f"read-{secrets.token_hex(3)}"
    ref = ObjectRef("v1", "ConfigMap", name, namespace)
    kube.apply(members_configmap(name, namespace))

    def told() -> None:
        """What the operator's watch would tell: the object as it is now."""
        live = kube.get(ref)
        if live is None:
            versions.seen(members_configmap(name, namespace), deleted=True)
        else:
            versions.seen(live, deleted=False)

    def read() -> tuple[dict[str, Any] | None, list[str]]:
        sent.clear()
        found = kube.read(ref)
        return found, list(sent)

    found, asked = read()
    assert asked == ["GET ConfigMap"]  # nothing told yet: read, not kept
    told()
    found, asked = read()
    assert asked == ["GET ConfigMap"]
    assert found is not None
    found, asked = read()
    assert asked == []
    assert found is not None
    assert found["data"] == {"members": "a,b,c"}

    local_env.kubectl("label", "configmap", name, "-n", namespace, "other=1")
    told()
    found, asked = read()
    assert asked == ["GET ConfigMap"]  # told of a change: read again
    assert (found or {})["metadata"]["labels"] == {"other": "1"}
    assert read()[1] == []

    kube.patch(ref, {"data": {"members": "x"}})  # its own write: read again at once
    found, asked = read()
    assert asked == ["GET ConfigMap"]
    assert (found or {})["data"] == {"members": "x"}

    assert kube.delete(ref)
    found, asked = read()
    assert asked == ["GET ConfigMap"]
    assert found is None
    told()
    assert read() == (None, ["GET ConfigMap"])  # a missing object is never kept


def test_a_running_api_server_has_no_unready_checks(
    local_env: LocalEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(local_env.kubeconfig))
    kube = Kube(connect(), "g8s-test-readyz")
    assert local_env.kubectl("get", "--raw", "/readyz").stdout.strip() == "ok"
    assert kube.unready_checks() == ()


def test_names_lists_only_names(
    local_env: LocalEnv, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweep's listing (shared.owners.sweep): the names of one kind in one namespace."""
    monkeypatch.setenv("KUBECONFIG", str(local_env.kubeconfig))
    kube = Kube(connect(), "g8s-test-names")
    for name in ("one", "two"):
        kube.apply(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, "namespace": namespace},
                "stringData": {"key": "value"},
            }
        )
    assert {"one", "two"} <= kube.names("v1", "Secret", namespace=namespace)
    local_env.kubectl("delete", "secret", "one", "-n", namespace)
    names = kube.names("v1", "Secret", namespace=namespace)
    assert "one" not in names
    assert "two" in names


def test_every_request_takes_a_token_of_the_limit(
    local_env: LocalEnv, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(local_env.kubeconfig))
    slept: list[float] = []
    # A clock that stands still: every request beyond the burst must wait.
    limit = TokenBucket(qps=10, burst=2, clock=lambda: 0.0, sleep=slept.append)
    kube = Kube(connect(), "g8s-test-limit", limit=limit)
    ref = ObjectRef("v1", "ConfigMap", f"limited-{secrets.token_hex(3)}", namespace)
    for _ in range(3):
        assert kube.get(ref) is None
    kube.list("v1", "ConfigMap", namespace=namespace)
    kube.get_raw("/version")
    assert slept == pytest.approx([0.1, 0.2, 0.3])
    # A second field manager on the same client shares the limit.
    kube.as_manager("g8s-test-limit-other").get(ref)
    assert slept[-1] == pytest.approx(0.4)


def test_a_write_in_a_namespace_being_deleted_is_refused_for_good(
    local_env: LocalEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API server's refusal is recognised (shared.errors.namespace_terminating), so a
    reconcile gives up on it instead of retrying until the namespace is gone."""
    monkeypatch.setenv("KUBECONFIG", str(local_env.kubeconfig))
    kube = Kube(connect(), "g8s-test-terminating")
    namespace = f"going-{secrets.token_hex(3)}"
    local_env.kubectl("create", "namespace", namespace)
    # An object whose finalizer holds the namespace in Terminating.
    held = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "held", "namespace": namespace, "finalizers": ["g8s.io/test"]},
    }
    kube.apply(held)
    local_env.kubectl("delete", "namespace", namespace, "--wait=false")
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "new", "namespace": namespace},
        "stringData": {"a": "b"},
    }
    try:
        with pytest.raises(ApiError) as refused:
            kube.apply(secret)
        assert namespace_terminating(refused.value), refused.value
        verdict = translate(refused.value, attempt=0, base=1.0, ceiling=10.0)
        assert (verdict.retry, verdict.reason) == (False, "NamespaceTerminating")
    finally:
        local_env.kubectl(
            "patch", "configmap", "held", "-n", namespace, "--type=merge",
            "-p", '{"metadata": {"finalizers": null}}',
        )  # fmt: skip
