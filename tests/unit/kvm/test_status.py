"""Status from what a reconciliation saw: phase, VMRunning, NodeReady (host pod or guest)."""

import ipaddress
from datetime import UTC, datetime
from typing import Any
from unittest.mock import MagicMock

from operators.kvm import status
from operators.kvm.context import KVMSettings
from operators.kvm.reconcile import GuestNetwork, GuestNode, Run
from shared.errors import Verdict
from shared.status import Report
from shared.steps import Outcome
from tests.unit.kvm.helpers import body, spec


def _pod(ready: bool, phase: str = "Running") -> dict[str, Any]:
    return {
        "metadata": {"name": "demo-w-abcde-7f9-x"},
        "spec": {"nodeName": "host-1"},
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": str(ready)}]},
    }


def _run(pod: dict[str, Any] | None, guest: GuestNode | None = None) -> Run:
    run = Run(spec=spec(), body=body(), kube=MagicMock(), settings=KVMSettings())
    run.network = GuestNetwork(ipaddress.IPv4Network("10.100.3.0/24"), "10.100.3.1", "br")
    run.address = ipaddress.IPv4Address("10.100.3.51")
    run.pod = pod
    run.guest = guest
    return run


def _by_type(report: Report) -> dict[str, Any]:
    return {o.type: o for o in report.observations}


def test_no_pod_yet() -> None:
    report = status.report(spec(), _run(None), Outcome())
    assert report.phase == "Provisioning"
    obs = _by_type(report)
    assert (obs["VMRunning"].status, obs["VMRunning"].reason) == ("False", "PodMissing")
    assert obs["Ready"].status == "False"
    assert report.fields["ipAddress"] == "10.100.3.51"
    assert "podName" not in report.fields


def test_host_pod_ready_stands_in_when_guest_checks_off() -> None:
    report = status.report(spec(), _run(_pod(True)), Outcome())
    assert report.phase == "Ready"
    obs = _by_type(report)
    assert (obs["NodeReady"].status, obs["NodeReady"].reason) == ("True", "HostPodReady")
    assert (obs["Ready"].status, obs["Ready"].reason) == ("True", "HostPodReady")
    assert report.fields["podName"] == "demo-w-abcde-7f9-x"
    assert report.fields["hostNode"] == "host-1"
    assert obs["Drained"].status == "False"


def test_a_simulated_host_is_named_in_the_conditions() -> None:
    run = _run(_pod(True))
    run.simulated_host = "host-1"
    obs = _by_type(status.report(spec(), run, Outcome()))
    for condition in ("VMRunning", "NodeReady"):
        assert "simulated host host-1: no VM really runs" in obs[condition].message
    real = _by_type(status.report(spec(), _run(_pod(True)), Outcome()))
    assert "simulated" not in real["NodeReady"].message


def test_running_vm_with_guest_node_not_ready() -> None:
    report = status.report(
        spec(), _run(_pod(True), GuestNode(False, "kubelet starting")), Outcome()
    )
    assert report.phase == "Running"
    obs = _by_type(report)
    assert (obs["NodeReady"].status, obs["NodeReady"].reason) == ("False", "GuestNodeNotReady")


def test_guest_unreachable_is_unknown() -> None:
    report = status.report(spec(), _run(_pod(True), GuestNode(error="refused")), Outcome())
    obs = _by_type(report)
    assert (obs["NodeReady"].status, obs["NodeReady"].reason) == ("Unknown", "GuestUnreachable")


def test_control_plane_api_server_not_ready() -> None:
    unready = GuestNode(False, "API server not ready: x", api_unready=("x",))
    obs = _by_type(status.report(spec("controlplane"), _run(_pod(True), unready), Outcome()))
    assert (obs["NodeReady"].status, obs["NodeReady"].reason) == ("False", "GuestAPINotReady")
    assert obs["NodeReady"].message == "API server not ready: x"


def test_guest_node_ready() -> None:
    report = status.report(
        spec(), _run(_pod(True), GuestNode(True, "kubelet is posting ready status")), Outcome()
    )
    assert report.phase == "Ready"
    assert _by_type(report)["Ready"].reason == "GuestNodeReady"


def test_failed_step_leaves_ready_to_the_kit() -> None:
    outcome = Outcome(
        failed_step="network", verdict=Verdict(True, 5.0, "NetworkNotReady", "no subnet")
    )
    report = status.report(spec(), _run(None), outcome)
    assert report.phase == "Provisioning"
    assert not any(o.type == "Ready" for o in report.observations)


def test_first_ready_time_is_written_once() -> None:
    run = _run(_pod(True), GuestNode(ready=True, message="kubelet is posting ready status"))
    run.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert status.report(spec(), run, Outcome()).fields["firstReadyTime"] == "2026-01-01T12:00:00Z"
    run.body = {**run.body, "status": {"firstReadyTime": "2026-01-01T11:00:00Z"}}
    run.now = datetime(2026, 1, 2, tzinfo=UTC)
    assert status.report(spec(), run, Outcome()).fields["firstReadyTime"] == "2026-01-01T11:00:00Z"
    # Not Ready now: the moment it was first Ready stays.
    run.guest = GuestNode(ready=False, message="kubelet stopped posting")
    assert status.report(spec(), run, Outcome()).fields["firstReadyTime"] == "2026-01-01T11:00:00Z"
    # Never Ready: none.
    assert "firstReadyTime" not in status.report(spec(), _run(_pod(False)), Outcome()).fields
