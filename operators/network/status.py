"""Pure: what a reconciliation observed -> the ClusterNetwork's conditions, phase and fields."""

from operators.network import allocation, names
from operators.network.model import ClusterNetworkSpec
from operators.network.reconcile import Run
from shared.api import conditions as c
from shared.conditions import Observation
from shared.status import Report
from shared.steps import Outcome

REASON_HOSTS_CONVERGED = "HostsConverged"
REASON_HOSTS_PENDING = "HostsConverging"
REASON_NO_HOSTS = "NoHosts"
# Ready from the allocation alone, where host agents are not required.
REASON_ALLOCATED = "Allocated"


def fields(run: Run) -> dict[str, object]:
    result: dict[str, object] = {"mtu": run.spec.mtu}
    if run.allocation is not None:
        vni, subnet = run.allocation.vni, run.allocation.subnet
        result |= {
            "vni": vni,
            "subnet": str(subnet),
            "gateway": allocation.gateway(subnet),
            "bridge": names.bridge(vni),
            "vxlanDevice": names.vxlan(vni),
        }
    if run.hosts is not None:
        result |= {"hostsReady": run.hosts.ready, "hostsTotal": run.hosts.total}
    return result


def ready(run: Run) -> Observation | None:
    """Ready, or None when a step failed (the kit then reports the failure)."""
    if run.allocation is None or run.hosts is None:
        return None
    where = f"VNI {run.allocation.vni}, subnet {run.allocation.subnet}"
    if not run.settings.require_hosts:
        return Observation.true(
            c.READY,
            REASON_ALLOCATED,
            f"{where} allocated; host agents not required by configuration "
            f"({run.hosts.ready}/{run.hosts.total} hosts reported ready)",
        )
    if run.hosts.total == 0:
        return Observation.false(c.READY, REASON_NO_HOSTS, f"{where}; no host nodes found")
    if run.hosts.all_ready:
        return Observation.true(
            c.READY, REASON_HOSTS_CONVERGED, f"{where}; all {run.hosts.total} hosts converged"
        )
    waiting = ", ".join(run.hosts.not_ready[:10])
    return Observation.false(
        c.READY,
        REASON_HOSTS_PENDING,
        f"{where}; {run.hosts.ready}/{run.hosts.total} hosts converged, waiting for {waiting}",
    )


def report(spec: ClusterNetworkSpec, run: Run, outcome: Outcome) -> Report:
    del spec
    observed = ready(run) if outcome.ok else None
    if observed is None:
        phase = "Allocating" if run.allocation is None else "Allocated"
        return Report(phase=phase, fields=fields(run))
    phase = "Ready" if observed.status == c.TRUE else "Allocated"
    return Report(phase=phase, observations=(observed,), fields=fields(run))
