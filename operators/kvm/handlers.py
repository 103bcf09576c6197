"""kopf registrations of the kvm operator; the logic lives elsewhere.

Create, update and resume run the reconciliation (``reconcile.STEPS``); a
timer runs it again every ``interval`` seconds to refresh the guest state. The
launcher pod's readiness does not wait for that timer: a watch on the
operator's Deployments touches the annotation ``g8s.io/children`` of the
owning KVMNode when their ready or available replicas change
(``shared.owners``), which kopf handles as an update. The same watch, and
one on the node's disk claim and Certificate (``WATCHED``), tell the
client which children are unchanged (``shared.watched.watch_versions``): a
refresh of an unchanged node sends no read of them.

Deletion drains the guest node first (``lifecycle.delete``), coming back
every ``poll_interval`` seconds until it is drained or the drain timeout is
reached. The finalizer then holds until the VM is really gone
(``shared.teardown``): the Deployment and its pods terminated, the disk claim
and its volume released, the Ignition Secret and the node's Certificate removed.
"""

import asyncio
from collections.abc import Mapping
from typing import Any

import kopf

from operators.kvm import lifecycle
from operators.kvm import reconcile as steps
from operators.kvm.context import KVMContext, KVMSettings
from operators.kvm.model import KVMNodeSpec, parse
from operators.kvm.status import PROVISIONING, report
from shared import owners, teardown, watched
from shared.api import API_VERSION, names
from shared.api.kinds import CERTIFICATE, CLUSTER_NETWORK, ETCD_CLUSTER, KVM_NODE
from shared.errors import InvalidSpec
from shared.handling import Reconciler, register_bound
from shared.kube import ObjectRef
from shared.owners import watch_workloads

KIND = KVM_NODE
OWNED_KINDS = (
    ("apps/v1", "Deployment"),
    ("v1", "PersistentVolumeClaim"),
    (API_VERSION, CERTIFICATE.kind),
    *teardown.WORKLOAD_KINDS,
)
# The children whose events keep the client's versions (Kube.ensure); the
# Ignition Secret is not among them: the Secrets' watch is filtered by the
# certificate label (shared.watched.CERTIFICATE_SELECTORS).
WATCHED = (
    ("apps", "v1", "deployments"),
    ("", "v1", "persistentvolumeclaims"),
    (CERTIFICATE.group, CERTIFICATE.version, CERTIFICATE.plural),
)


# What a node reads of other operators' objects, kept by watches: every
# ClusterNetwork, and the Services of the etcd operator (filtered by the API
# server: ETCD_SERVICE_SELECTORS), of which a node reads its etcd's ClusterIP.
NETWORKS = (CLUSTER_NETWORK.group, CLUSTER_NETWORK.version, CLUSTER_NETWORK.plural)
ETCD_SERVICES = ("", "v1", "services")
ETCD_SERVICE_SELECTORS = watched.children_selectors(ETCD_CLUSTER.operator, (ETCD_SERVICES,))


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
    watched.watch_certificates(registry)
    watched.watch_versions(registry, KIND.operator, WATCHED)
    watched.watch_kept(registry, NETWORKS, lambda memo: memo.networks)
    watched.watch_kept(registry, ETCD_SERVICES, lambda memo: memo.services)

    @kopf.on.delete(KIND.group, KIND.version, KIND.plural, registry=registry, id="drain")
    async def _drain(body: kopf.Body, patch: kopf.Patch, memo: Any, **_: Any) -> None:
        owners.deleting(memo.going, body)
        try:
            spec = parse(body)
        except InvalidSpec:
            spec = None  # nothing to drain; what an earlier spec built still goes
        if spec is not None and not lifecycle.drained(body):
            run = steps.make_run(spec, body, memo)
            deletion = await asyncio.to_thread(lifecycle.delete, run, now=memo.clock())
            patch.setdefault("status", {}).update(deletion.status)
            if not deletion.done:
                raise kopf.TemporaryError(
                    deletion.decision.message, delay=memo.settings.poll_interval
                )
        await teardown.hold_until_gone(memo.client(), teardown_scope(body), memo.volumes)


def teardown_scope(body: Mapping[str, Any]) -> teardown.Scope:
    """What a KVMNode makes (operators/kvm/reconcile.py) and must see gone before it goes."""
    name, namespace = str(body["metadata"]["name"]), body["metadata"]["namespace"]
    disk = names.node_disk(name)
    ignition = ObjectRef("v1", "Secret", names.ignition_secret(name), namespace)
    return teardown.scope_of(
        body, OWNED_KINDS, named=(ignition,), claims=lambda claim: claim == disk
    )
