"""Removing a node: drain the guest node, then let its VM go (no kopf here).

``delete`` runs on every attempt of the deletion handler: it records when
draining began, makes one drain pass through the guest API, and either
returns the final status (drained, or the timeout reached — the guest's
Node object is then deleted, so the guest does not keep a NotReady node
forever, deletion proceeds and the owned Deployment, Secret and PVC are
garbage-collected) or raises ``Retry`` to come back after the poll interval.
"""

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from operators.kvm import drain, policies, status
from operators.kvm.model import KVMNodeSpec
from operators.kvm.reconcile import Run, guest_api
from shared.api import conditions as c
from shared.api import phases
from shared.conditions import Observation
from shared.status import Report, status_patch


@dataclass(frozen=True)
class Deletion:
    """The status to write; ``done`` when the VM may be removed now."""

    status: dict[str, Any]
    done: bool
    decision: policies.DrainDecision


def _parse_time(text: str | None, default: datetime) -> datetime:
    if not text:
        return default
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _format_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def drained(body: Mapping[str, Any]) -> bool:
    """True once an earlier attempt finished draining (the phase it wrote).

    From then on the guest may already be going (a control-plane VM takes its
    API with it), so draining is not tried again.
    """
    return (body.get("status") or {}).get("phase") == phases.DELETING


def delete(
    run: Run,
    *,
    now: datetime,
    guest: Callable[[Run], drain.GuestApi] | None = None,
) -> Deletion:
    spec: KVMNodeSpec = run.spec
    current: Mapping[str, Any] = run.body.get("status") or {}
    started = _parse_time(current.get("drainStartTime"), now)
    elapsed = (now - started).total_seconds()
    if spec.drain_timeout <= 0 or not run.settings.guest_checks:
        why = "drain timeout is 0s" if spec.drain_timeout <= 0 else "guest checks off"
        decision = policies.DrainDecision(True, False, "DrainSkipped", f"not drained: {why}")
    else:
        unreachable = ""
        result = drain.DrainPass((), (), ())
        api: drain.GuestApi | None = None
        try:
            api = guest(run) if guest is not None else drain.KubeGuest(guest_api(run))
            result = drain.drain_pass(api, spec.name)
        except Exception as exc:
            unreachable = f"{type(exc).__name__}: {exc}"
        decision = policies.drain_decision(
            len(result.remaining), len(result.blocked), elapsed, spec.drain_timeout, unreachable
        )
        if decision.done and api is not None:
            # Best effort: an unreachable guest keeps the Node, the VM goes anyway.
            with contextlib.suppress(Exception):
                api.delete_node(spec.name)
    drained_ok = decision.done and not decision.timed_out
    drained = (
        Observation.true(c.DRAINED, decision.reason, decision.message)
        if drained_ok
        else Observation.false(c.DRAINED, decision.reason, decision.message)
    )
    phase = phases.DELETING if decision.done else status.DRAINING
    ready = Observation.false(
        c.READY, "Deleting" if decision.done else "Draining", decision.message
    )
    report = Report(
        phase=phase,
        observations=(ready, drained),
        fields={"drainStartTime": _format_time(started)},
    )
    generation = int(run.body["metadata"].get("generation") or 0)
    patch = status_patch(current, report, generation=generation, now=now)
    return Deletion(status=patch, done=decision.done, decision=decision)
