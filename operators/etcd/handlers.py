"""kopf registrations of the etcd operator; the logic lives elsewhere.

Create, update (spec or annotations, e.g. ``g8s.io/backup-now``) and resume
run the reconciliation; a timer runs it again every ``interval`` seconds so
that member health and the backup and defragmentation schedules are looked
at without any change to the object. The reconciler is bound to the
operator's context (kopf memo) per call, since its steps need the context's
clients.
"""

import contextlib
from typing import Any

import kopf

from operators.etcd import reconcile as steps
from operators.etcd.context import EtcdContext, EtcdSettings
from operators.etcd.model import EtcdClusterSpec, parse
from operators.etcd.status import report
from shared.api.kinds import ETCD_CLUSTER
from shared.handling import Reconciler, reconcile

KIND = ETCD_CLUSTER


def bound(ctx: EtcdContext) -> Reconciler[EtcdClusterSpec, steps.Run]:
    return Reconciler(
        kind=KIND,
        parse=parse,
        context=lambda spec, body: steps.make_run(spec, body, ctx),
        steps=steps.STEPS,
        report=report,
        pending_phase="Creating",
    )


def register(registry: kopf.OperatorRegistry, settings: EtcdSettings) -> None:
    @kopf.on.resume(KIND.group, KIND.version, KIND.plural, registry=registry, id="reconcile")
    @kopf.on.create(KIND.group, KIND.version, KIND.plural, registry=registry, id="reconcile")
    @kopf.on.update(KIND.group, KIND.version, KIND.plural, registry=registry, id="reconcile")
    async def _reconcile(
        body: kopf.Body, patch: kopf.Patch, memo: Any, retry: int, **_: Any
    ) -> None:
        await reconcile(bound(memo), body=body, patch=patch, ctx=memo, retry=retry)

    @kopf.timer(
        KIND.group,
        KIND.version,
        KIND.plural,
        registry=registry,
        id="watch",
        interval=settings.interval,
        initial_delay=settings.interval,
        idle=settings.interval,
    )
    async def _watch(body: kopf.Body, patch: kopf.Patch, memo: Any, **_: Any) -> None:
        # The timer comes back on its own; the status already says why it failed.
        with contextlib.suppress(kopf.TemporaryError):
            await reconcile(bound(memo), body=body, patch=patch, ctx=memo, retry=0)
