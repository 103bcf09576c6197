"""kopf registrations of the network operator; the logic lives elsewhere.

Create, update and resume run the reconciliation; a timer refreshes hosts
ready / total (host agents write their entries into status, which does not
trigger an update handler); deletion releases the allocated values before
kopf removes the finalizer.
"""

import asyncio
import contextlib
from typing import Any

import kopf

from operators.network import reconcile as steps
from operators.network.allocation import Owner
from operators.network.config import NetworkContext, NetworkSettings
from operators.network.model import ClusterNetworkSpec, parse
from operators.network.status import report, unchanged
from shared import logs
from shared.api.kinds import CLUSTER_NETWORK
from shared.handling import Reconciler, reconcile

KIND = CLUSTER_NETWORK


def bound(
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
        id="hosts",
        interval=settings.hosts_interval,
        initial_delay=settings.hosts_interval,
    )
    async def _hosts(body: kopf.Body, patch: kopf.Patch, memo: Any, **_: Any) -> None:
        # The timer comes back on its own; the status already says why it failed.
        with contextlib.suppress(kopf.TemporaryError):
            await reconcile(bound(memo, refresh=True), body=body, patch=patch, ctx=memo, retry=0)
        # At rest the refresh finds what status already says: write nothing.
        if unchanged(body.get("status") or {}, patch.get("status") or {}):
            patch.pop("status", None)

    @kopf.on.delete(KIND.group, KIND.version, KIND.plural, registry=registry, id="release")
    async def _release(body: kopf.Body, memo: Any, **_: Any) -> None:
        # By UID alone: a spec that no longer parses must still release.
        meta = body["metadata"]
        owner = Owner(str(meta["namespace"]), str(meta["name"]), str(meta["uid"]))
        released = await asyncio.to_thread(steps.release, owner, memo)
        log = logs.get_logger("g8s.network", namespace=owner.namespace, name=owner.name)
        log.info("released allocation", records=released)
