"""kopf registrations of the etcd operator; the logic lives elsewhere.

Create, update (spec or annotations, e.g. ``g8s.io/backup-now``) and resume
run the reconciliation; a timer runs it again every ``interval`` seconds so
that member health and the backup and defragmentation schedules are looked
at without any change to the object. The reconciler is bound to the
operator's context (kopf memo) per call, since its steps need the context's
clients.
"""

import kopf

from operators.etcd import reconcile as steps
from operators.etcd.context import EtcdContext, EtcdSettings
from operators.etcd.model import EtcdClusterSpec, parse
from operators.etcd.status import report
from shared.api.kinds import ETCD_CLUSTER
from shared.handling import Reconciler, register_bound

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
    register_bound(
        registry,
        KIND,
        bound,
        resync=settings.interval,
        resync_id="watch",
        resync_idle=settings.interval,
    )
