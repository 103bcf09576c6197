"""Pure: what one reconciliation observed -> the KVMNode's phase, conditions and fields."""

from collections.abc import Mapping
from typing import Any

from operators.kvm.model import KVMNodeSpec
from operators.kvm.policies import mac_address
from operators.kvm.reconcile import Run
from shared.api import conditions as c
from shared.conditions import Observation, timestamp
from shared.status import Report
from shared.steps import Outcome

PROVISIONING = "Provisioning"
RUNNING = "Running"
READY = "Ready"
DRAINING = "Draining"

REASON_POD_MISSING = "PodMissing"
REASON_POD_PENDING = "PodPending"
REASON_POD_RUNNING = "PodRunning"
REASON_HOST_POD_READY = "HostPodReady"
REASON_HOST_POD_NOT_READY = "HostPodNotReady"
REASON_GUEST_NODE_READY = "GuestNodeReady"
REASON_GUEST_NODE_NOT_READY = "GuestNodeNotReady"
REASON_GUEST_UNREACHABLE = "GuestUnreachable"
REASON_GUEST_API_NOT_READY = c.REASON_GUEST_API_NOT_READY
REASON_NOT_DRAINING = "NotDraining"


def _pod_ready(pod: Mapping[str, Any]) -> bool:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def on_simulated(host: str) -> str:
    """What a message adds when the launcher pod's host only simulates its pods."""
    return f" on simulated host {host}: no VM really runs" if host else ""


def vm_running(pod: Mapping[str, Any] | None, simulated_host: str = "") -> Observation:
    if pod is None:
        return Observation.false(c.VM_RUNNING, REASON_POD_MISSING, "no launcher pod yet")
    name = pod["metadata"]["name"]
    phase = (pod.get("status") or {}).get("phase") or "Pending"
    if phase == "Running" and _pod_ready(pod):
        return Observation.true(
            c.VM_RUNNING,
            REASON_POD_RUNNING,
            f"launcher pod {name} is ready{on_simulated(simulated_host)}",
        )
    return Observation.false(
        c.VM_RUNNING, REASON_POD_PENDING, f"launcher pod {name} is {phase}, not ready yet"
    )


def node_ready(run: Run) -> Observation:
    if run.guest is None:
        # Guest checks are off (no VM really boots): the host pod stands in.
        if run.pod is not None and _pod_ready(run.pod):
            return Observation.true(
                c.NODE_READY,
                REASON_HOST_POD_READY,
                f"host pod ready{on_simulated(run.simulated_host)} (guest checks off)",
            )
        return Observation.false(
            c.NODE_READY, REASON_HOST_POD_NOT_READY, "host pod not ready (guest checks off)"
        )
    if run.guest.error:
        return Observation.unknown(c.NODE_READY, REASON_GUEST_UNREACHABLE, run.guest.error)
    if run.guest.ready:
        return Observation.true(c.NODE_READY, REASON_GUEST_NODE_READY, run.guest.message)
    if run.guest.api_unready:
        return Observation.false(c.NODE_READY, REASON_GUEST_API_NOT_READY, run.guest.message)
    return Observation.false(c.NODE_READY, REASON_GUEST_NODE_NOT_READY, run.guest.message)


def fields(spec: KVMNodeSpec, run: Run) -> dict[str, Any]:
    out: dict[str, Any] = {"nodeName": spec.name, "kubernetesVersion": spec.kubernetes_version}
    if run.address is not None:
        out["ipAddress"] = str(run.address)
    if run.pod is not None:
        out["podName"] = run.pod["metadata"]["name"]
        host = (run.pod.get("spec") or {}).get("nodeName")
        if host:
            out["hostNode"] = host
    out["macAddress"] = mac_address(spec)
    return out


def report(spec: KVMNodeSpec, run: Run, outcome: Outcome) -> Report:
    if not outcome.ok:
        # The failed step's reason becomes Ready (the kit adds it).
        return Report(phase=PROVISIONING, fields=fields(spec, run))
    vm = vm_running(run.pod, run.simulated_host)
    node = node_ready(run)
    drained = Observation.false(c.DRAINED, REASON_NOT_DRAINING, "node in service")
    out = fields(spec, run)
    first_ready = (run.body.get("status") or {}).get("firstReadyTime")
    if first_ready:
        out["firstReadyTime"] = first_ready
    if node.status == "True":
        phase = READY
        ready = Observation.true(c.READY, node.reason, node.message or "node ready")
        out.setdefault("firstReadyTime", timestamp(run.now))
    else:
        phase = RUNNING if vm.status == "True" else PROVISIONING
        ready = Observation.false(c.READY, node.reason, node.message)
    return Report(phase=phase, observations=(ready, vm, node, drained), fields=out)
