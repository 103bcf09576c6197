"""kopf registrations of the network operator; the logic lives elsewhere.

Create, update and resume run the reconciliation; a timer refreshes hosts
ready / total (host agents write their entries into status, which does not
trigger an update handler); deletion releases the allocated values and holds
the finalizer until the NetworkPolicies are gone (``shared.teardown``). The
host agents remove their bridges and VXLAN devices once the ClusterNetwork
has gone.
"""

import asyncio
from typing import Any

import kopf

from operators.network import reconcile as steps
from operators.network.allocation import Owner
from operators.network.context import NetworkContext, NetworkSettings
from operators.network.model import ClusterNetworkSpec, parse
from operators.network.status import report
from shared import logs, owners, teardown
from shared.api.kinds import CLUSTER_NETWORK
from shared.handling import Reconciler, register_bound

KIND = CLUSTER_NETWORK
OWNED_KINDS = (("networking.k8s.io/v1", "NetworkPolicy"),)


def reconciler(
    ctx: NetworkContext, *, refresh: bool = False
) -> Reconciler[ClusterNetworkSpec, steps.Run]:
    return Reconciler(
        kind=KIND,
        parse=parse,
        context=lambda spec, body: steps.make_run(spec, body, ctx),
        # The refresh keeps the policies alone: they change only with the spec.
        steps=steps.REFRESH_STEPS if refresh else steps.STEPS,
        report=report,
    )


def register(registry: kopf.OperatorRegistry, settings: NetworkSettings) -> None:
    register_bound(
        registry,
        KIND,
        reconciler,
        resync=settings.hosts_interval,
        # The refresh keeps the policies alone: they change only with the spec.
        resync_bind=lambda ctx: reconciler(ctx, refresh=True),
        resync_id="hosts",
    )

    @kopf.on.delete(KIND.group, KIND.version, KIND.plural, registry=registry, id="release")
    async def _release(body: kopf.Body, memo: Any, **_: Any) -> None:
        owners.deleting(memo.going, body)
        # By UID alone: a spec that no longer parses must still release.
        meta = body["metadata"]
        owner = Owner(str(meta["namespace"]), str(meta["name"]), str(meta["uid"]))
        released = await asyncio.to_thread(steps.release, owner, memo)
        log = logs.get_logger("g8s.network", namespace=owner.namespace, name=owner.name)
        log.info("released allocation", records=released)
        await teardown.hold_until_gone(memo.client(), teardown.scope_of(body, OWNED_KINDS))
