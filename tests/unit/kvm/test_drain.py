"""Drain passes over an in-memory guest API, and the deletion status they lead to."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import MagicMock

from operators.kvm import drain, lifecycle
from operators.kvm.context import KVMSettings
from operators.kvm.reconcile import Run
from shared.errors import ApiError
from tests.unit.kvm.helpers import body, spec


def _pod(name: str, **meta: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "app", **meta}, "status": {"phase": "Running"}}


@dataclass
class FakeGuest:
    pods: list[dict[str, Any]]
    protected: set[str] = field(default_factory=set)
    cordoned: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    ready: bool = True

    def cordon(self, node: str) -> None:
        self.cordoned.append(node)

    def delete_node(self, node: str) -> None:
        self.deleted.append(node)

    def pods_on(self, node: str) -> Sequence[Mapping[str, Any]]:
        return list(self.pods)

    def node_ready(self, node: str) -> bool:
        return self.ready

    def evict(self, name: str, namespace: str) -> None:
        if name in self.protected:
            raise ApiError(
                429,
                "TooManyRequests",
                "Cannot evict pod as it would violate the pod's disruption budget.",
            )
        self.pods = [p for p in self.pods if p["metadata"]["name"] != name]


def test_pass_evicts_what_it_may_and_counts_the_rest() -> None:
    guest = FakeGuest(
        pods=[
            _pod("web-1"),
            _pod("db-0"),
            _pod("agent", ownerReferences=[{"kind": "DaemonSet", "name": "agent"}]),
            _pod("kube-apiserver-n", annotations={drain.MIRROR_ANNOTATION: "x"}),
        ],
        protected={"db-0"},
    )
    result = drain.drain_pass(guest, "n")
    assert guest.cordoned == ["n"]
    assert result.evicted == ("app/web-1",)
    assert result.blocked == ("app/db-0",)
    assert result.remaining == ("app/db-0",)


def test_terminating_pods_are_waited_for_not_evicted_again() -> None:
    guest = FakeGuest(pods=[_pod("slow", deletionTimestamp="2026-01-01T00:00:00Z")])
    result = drain.drain_pass(guest, "n")
    assert result.evicted == ()
    assert result.remaining == ("app/slow",)


def test_a_not_ready_node_does_not_wait_for_terminating_pods() -> None:
    """No kubelet finishes them; a budget still holds the pods not yet evicted."""
    guest = FakeGuest(
        pods=[_pod("stuck", deletionTimestamp="2026-01-01T00:00:00Z"), _pod("db-0")],
        protected={"db-0"},
        ready=False,
    )
    result = drain.drain_pass(guest, "n")
    assert result.remaining == ("app/db-0",)
    guest.protected.clear()
    assert drain.drain_pass(guest, "n").remaining == ()


def _run(status: dict[str, Any] | None = None, **spec_fields: Any) -> Run:
    b = body(**spec_fields)
    if status:
        b["status"] = status
    return Run(spec=spec(**spec_fields), body=b, kube=MagicMock(), settings=KVMSettings())


NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _conditions(status: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def test_deletion_waits_while_the_pdb_holds() -> None:
    guest = FakeGuest(pods=[_pod("db-0")], protected={"db-0"})
    deletion = lifecycle.delete(_run(drainTimeout="60s"), now=NOW, guest=lambda _: guest)
    assert not deletion.done
    assert guest.deleted == []
    assert deletion.status["phase"] == "Draining"
    assert deletion.status["drainStartTime"] == "2026-01-01T12:00:00Z"
    drained = _conditions(deletion.status)["Drained"]
    assert (drained["status"], drained["reason"]) == ("False", "Draining")


def test_deletion_gives_up_after_the_timeout() -> None:
    guest = FakeGuest(pods=[_pod("db-0")], protected={"db-0"})
    run = _run({"drainStartTime": "2026-01-01T11:58:00Z"}, drainTimeout="60s")
    deletion = lifecycle.delete(run, now=NOW, guest=lambda _: guest)
    assert deletion.done
    assert deletion.status["phase"] == "Deleting"
    assert deletion.status["drainStartTime"] == "2026-01-01T11:58:00Z"
    drained = _conditions(deletion.status)["Drained"]
    assert (drained["status"], drained["reason"]) == ("False", "DrainTimeout")


def test_deletion_done_when_drained() -> None:
    guest = FakeGuest(pods=[_pod("web-1")])
    deletion = lifecycle.delete(_run(), now=NOW, guest=lambda _: guest)
    assert deletion.done
    # The guest forgets the node once it is drained.
    assert guest.deleted == [guest.cordoned[0]]
    drained = _conditions(deletion.status)["Drained"]
    assert (drained["status"], drained["reason"]) == ("True", "Drained")
    assert _conditions(deletion.status)["Ready"]["status"] == "False"


def test_unreachable_guest_is_reported_then_given_up() -> None:
    def broken(_: Run) -> drain.GuestApi:
        raise ConnectionError("connection refused")

    early = lifecycle.delete(_run(drainTimeout="60s"), now=NOW, guest=broken)
    assert not early.done
    assert _conditions(early.status)["Drained"]["reason"] == "GuestUnreachable"
    assert "connection refused" in _conditions(early.status)["Drained"]["message"]
    start = (NOW - timedelta(seconds=61)).strftime("%Y-%m-%dT%H:%M:%SZ")
    late = lifecycle.delete(
        _run({"drainStartTime": start}, drainTimeout="60s"), now=NOW, guest=broken
    )
    assert late.done
    assert _conditions(late.status)["Drained"]["reason"] == "GuestUnreachable"


def test_zero_timeout_skips_the_drain() -> None:
    def never(_: Run) -> drain.GuestApi:
        raise AssertionError("must not be called")

    deletion = lifecycle.delete(_run(drainTimeout="0s"), now=NOW, guest=never)
    assert deletion.done
    assert _conditions(deletion.status)["Drained"]["reason"] == "DrainSkipped"
