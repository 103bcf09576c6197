"""kopf registrations of the etcd operator; the logic lives elsewhere.

Create, update (spec or annotations, e.g. ``g8s.io/backup-now``) and resume
run the reconciliation; a timer runs it again every ``interval`` seconds so
that member health and the backup and defragmentation schedules are looked
at without any change to the object. Pod readiness does not wait for that
timer: a watch on the operator's StatefulSets touches the annotation
``g8s.io/children`` of the owning EtcdCluster when their ready or available
replicas change (``shared.owners``), which kopf handles as an update. That
watch, and those on the operator's Services, budgets and ConfigMaps
(``WATCHED``), tell the client which children are unchanged
(``shared.watched.watch_versions``): a refresh of an unchanged EtcdCluster
sends no read of them. The reconciler is bound to the operator's context
(kopf memo) per call, since its steps need the context's clients.

Deletion holds the finalizer until the members are really gone
(``shared.teardown``): the StatefulSet, its pods terminated, the members' data
claims and their volumes released, the Services, budget and ConfigMap removed.
Backups stay in the backup store: they are what a later restore reads.
"""

from collections.abc import Mapping
from typing import Any

import kopf

from operators.etcd import reconcile as steps
from operators.etcd.children import statefulset
from operators.etcd.context import EtcdContext, EtcdSettings
from operators.etcd.model import EtcdClusterSpec, parse
from operators.etcd.status import report
from shared import owners, teardown, watched
from shared.api import names
from shared.api.kinds import ETCD_CLUSTER
from shared.handling import Reconciler, register_bound
from shared.owners import watch_workloads

KIND = ETCD_CLUSTER
OWNED_KINDS = (
    ("apps/v1", "StatefulSet"),
    ("v1", "Service"),
    ("policy/v1", "PodDisruptionBudget"),
    ("v1", "ConfigMap"),
    *teardown.WORKLOAD_KINDS,
)
# The children whose events keep the client's versions (Kube.ensure).
WATCHED = (
    ("apps", "v1", "statefulsets"),
    ("", "v1", "services"),
    ("policy", "v1", "poddisruptionbudgets"),
    ("", "v1", "configmaps"),
)


def reconciler(ctx: EtcdContext) -> Reconciler[EtcdClusterSpec, steps.Run]:
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
        reconciler,
        resync=settings.interval,
        resync_id="watch",
        resync_idle=settings.interval,
    )
    watch_workloads(registry, KIND, ("apps", "v1", "statefulsets"))
    watched.watch_certificates(registry)
    watched.watch_versions(registry, KIND.operator, WATCHED)

    @kopf.on.delete(KIND.group, KIND.version, KIND.plural, registry=registry, id="teardown")
    async def _teardown(body: kopf.Body, memo: Any, **_: Any) -> None:
        owners.deleting(memo.going, body)
        await teardown.hold_until_gone(memo.client(), teardown_scope(body), memo.volumes)


def teardown_scope(body: Mapping[str, Any]) -> teardown.Scope:
    """What an EtcdCluster makes (operators/etcd/reconcile.py) and must see gone before it goes."""
    # The StatefulSet's claims: data-<statefulset>-<ordinal>.
    sts = names.etcd_statefulset(teardown.cluster_of(body) or "")
    prefix = f"{statefulset.DATA_VOLUME}-{sts}-"
    return teardown.scope_of(
        body,
        OWNED_KINDS,
        claims=lambda claim: claim.startswith(prefix) and claim[len(prefix) :].isdigit(),
    )
