"""Pure: which nodes of a Cluster to replace because they stopped being healthy.

The rules are Cluster API's MachineHealthCheck's. A node that was Ready and has
not been for ``unhealthy_timeout``, or a new node not Ready ``startup_timeout``
after its creation, is unhealthy. With more unhealthy nodes than
``max_unhealthy`` at once nothing is replaced: so many failing together points
at the host, the network or the control plane, which new VMs would not fix and
whose replacements would only add load. Control-plane nodes are replaced one at
a time, and not while another is going or still starting, so the guest never
loses two API servers to remediation at once. The guest's etcd runs beside
the VMs, not on them, so replacing a VM cannot touch its quorum.

A node whose health the kvm operator could not ask the guest API about
(``NodeReady`` Unknown) is not judged, as Cluster API's health check does
nothing while it cannot reach the workload cluster, and neither is a
control-plane node whose Node is Ready while its API server still starts
(``GuestAPINotReady``): Cluster API judges the Node's conditions alone. An
API server being restarted (every rotation restarts it) or slow to start
under emulation says nothing of the VMs; in CI the only control-plane node
was replaced so during a CA rotation. A node's clock starts again once its
health can be told (``NodeReady`` changes then, ``Ready`` does not).
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from operators.cluster.model import CONTROLPLANE, Remediation
from operators.cluster.policies import NodeState
from shared import conditions as cond
from shared.api import conditions as c

ALL_HEALTHY = "AllHealthy"
NOT_READY = "NodesNotReady"
REMEDIATING = "Remediating"
TOO_MANY = "TooManyUnhealthy"
WAITING = "RemediationWaiting"
DISABLED = "RemediationDisabled"
UNTOLD = "HealthUnknown"


@dataclass(frozen=True)
class Verdict:
    """What to replace now, and the ``NodesHealthy`` condition that says why."""

    status: c.ConditionStatus
    reason: str
    message: str
    replace: tuple[str, ...] = ()
    # When to judge again though nothing changes: a waiting node falls due.
    recheck_at: datetime | None = None


def allowed(max_unhealthy: str, total: int) -> int:
    """How many unhealthy nodes may be replaced at once.

    A share rounds up, so that in a small cluster one node can always be
    replaced (40% of 2 nodes is 1, not 0).
    """
    text = max_unhealthy.strip()
    if text.endswith("%"):
        return math.ceil(total * int(text[:-1]) / 100)
    return int(text)


def due(node: NodeState, policy: Remediation) -> datetime | None:
    """When ``node``, not Ready, becomes unhealthy; None when that cannot be told."""
    if node.first_ready:
        # It was Ready once: count from when Ready last changed.
        since = cond.parse_timestamp(node.ready_since) or cond.parse_timestamp(node.first_ready)
        return since + timedelta(seconds=policy.unhealthy_timeout) if since else None
    created = cond.parse_timestamp(node.created)
    return created + timedelta(seconds=policy.startup_timeout) if created else None


def why_unhealthy(node: NodeState) -> str:
    if node.first_ready:
        return f"{node.name} not Ready since {node.ready_since or node.first_ready}"
    return f"{node.name} not Ready since its creation at {node.created}"


def calm(live: Sequence[NodeState]) -> Verdict:
    """No node known to be unhealthy: all Ready, or some not judged."""
    untold = [n.name for n in live if not n.ready]
    if untold:
        names = ", ".join(untold)
        return Verdict(
            c.UNKNOWN,
            UNTOLD,
            f"not judged: {names}: the guest API did not answer about them, or is starting",
        )
    return Verdict(c.TRUE, ALL_HEALTHY, f"{len(live)} nodes ready")


def judge(nodes: Sequence[NodeState], policy: Remediation, now: datetime) -> Verdict:
    """The nodes to replace now; messages carry moments, not ages, so a waiting
    verdict reads the same on every pass and its status is not rewritten."""
    live = [n for n in nodes if not n.deleting]
    sick = [n for n in live if not n.ready and not n.unknown]
    if not sick:
        return calm(live)
    moments = {n.name: due(n, policy) for n in sick}
    unhealthy = [n for n in sick if (moment := moments[n.name]) is not None and moment <= now]
    if not policy.enabled:
        names = ", ".join(n.name for n in sick)
        return Verdict(c.FALSE, DISABLED, f"not Ready: {names}; remediation is disabled")
    if not unhealthy:
        pending = ", ".join(
            f"{n.name} (replaced at {cond.timestamp(m)} if still not Ready)"
            if (m := moments[n.name])
            else n.name
            for n in sick
        )
        known = [m for m in moments.values() if m is not None]
        return Verdict(
            c.UNKNOWN, NOT_READY, f"not Ready: {pending}", recheck_at=min(known, default=None)
        )
    limit = allowed(policy.max_unhealthy, len(live))
    if len(unhealthy) > limit:
        return Verdict(
            c.FALSE,
            TOO_MANY,
            f"{len(unhealthy)} of {len(live)} nodes unhealthy, more than maxUnhealthy "
            f"{policy.max_unhealthy} ({limit}); none is replaced: "
            + "; ".join(why_unhealthy(n) for n in unhealthy),
        )
    workers = [n for n in unhealthy if n.role != CONTROLPLANE]
    control = [n for n in unhealthy if n.role == CONTROLPLANE]
    replace = [n.name for n in workers]
    held = ""
    if control:
        busy = [
            n
            for n in nodes
            if n.role == CONTROLPLANE
            and n not in control
            and (n.deleting or (not n.ready and not n.first_ready))
        ]
        if busy:
            held = f"control-plane node {control[0].name} waits for {busy[0].name}"
        else:
            replace.append(sorted(control, key=lambda n: n.created)[0].name)
    if not replace:
        return Verdict(c.FALSE, WAITING, f"{why_unhealthy(control[0])}; {held}")
    reasons = "; ".join(why_unhealthy(n) for n in unhealthy if n.name in replace)
    return Verdict(
        c.FALSE,
        REMEDIATING,
        f"replacing {', '.join(replace)}: {reasons}" + (f"; {held}" if held else ""),
        replace=tuple(replace),
    )
