"""kopf registrations of the kvm operator; the logic lives elsewhere.

Create, update and resume run the reconciliation (``reconcile.STEPS``); a
timer runs it again every ``interval`` seconds to refresh the guest state. The
launcher pod's readiness does not wait for that timer: a watch on the
operator's Deployments touches the annotation ``g8s.io/children`` of the
owning KVMNode when their ready or available replicas change
(``shared.owners``), which kopf handles as an update.

Deletion drains the guest node first (``lifecycle.delete``), coming back
every ``poll_interval`` seconds until it is drained or the drain timeout is
reached; the owned objects then go with the KVMNode.
"""

import asyncio
from typing import Any

import kopf

from operators.kvm import lifecycle
from operators.kvm import reconcile as steps
from operators.kvm.context import KVMContext, KVMSettings
from operators.kvm.model import KVMNodeSpec, parse
from operators.kvm.status import PROVISIONING, report
from shared.api.kinds import KVM_NODE
from shared.errors import InvalidSpec
from shared.handling import Reconciler, register_bound
from shared.owners import watch_workloads

KIND = KVM_NODE


def reconciler(ctx: KVMContext) -> Reconciler[KVMNodeSpec, steps.Run]:
    return Reconciler(
        kind=KIND,
        parse=parse,
        context=lambda spec, body: steps.make_run(spec, body, ctx),
        steps=steps.STEPS,
        report=report,
        pending_phase=PROVISIONING,
    )


def register(registry: kopf.OperatorRegistry, settings: KVMSettings) -> None:
    register_bound(
        registry,
        KIND,
        reconciler,
        resync=settings.interval,
        resync_id="refresh",
        resync_idle=settings.interval,
    )

    watch_workloads(registry, KIND, ("apps", "v1", "deployments"))

    @kopf.on.delete(KIND.group, KIND.version, KIND.plural, registry=registry, id="drain")
    async def _drain(body: kopf.Body, patch: kopf.Patch, memo: Any, **_: Any) -> None:
        try:
            spec = parse(body)
        except InvalidSpec:
            return  # nothing was built from an invalid spec: nothing to drain
        run = steps.make_run(spec, body, memo)
        deletion = await asyncio.to_thread(lifecycle.delete, run, now=memo.clock())
        patch.setdefault("status", {}).update(deletion.status)
        if not deletion.done:
            raise kopf.TemporaryError(deletion.decision.message, delay=memo.settings.poll_interval)
