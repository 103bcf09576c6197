"""kopf registrations of the cluster operator; the logic lives elsewhere.

Children drive the Cluster's status without polling: a watch on each child
kind turns every change of what the Cluster depends on (Ready, generations,
deletion) into the annotation ``g8s.io/children`` on the owning Cluster. kopf
sees an annotation change as an update and reconciles the Cluster, which
re-reads its children. At rest no child changes, so nothing is written.
"""

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import kopf

from operators.cluster import reconcile as steps
from operators.cluster.context import ClusterContext
from operators.cluster.model import ClusterSpec, parse, ref
from operators.cluster.status import deleting, deleting_stage, transitions
from shared import owners
from shared.api import API_VERSION, GROUP, VERSION
from shared.api import conditions as c
from shared.api.kinds import CLUSTER
from shared.api.labels import CHILDREN_ANNOTATION, HEALTH_CHECK_ANNOTATION
from shared.api.labels import CLUSTER as CLUSTER_LABEL
from shared.conditions import parse_timestamp, set_condition, timestamp
from shared.errors import ApiError, backoff
from shared.handling import Reconciler, reconcile
from shared.kube import ObjectRef
from shared.pause import pause_reason

CHILD_LINK = owners.Link(API_VERSION, CLUSTER.kind, CHILDREN_ANNOTATION, steps.child_token)
# How soon a deletion stage is looked at again when the watches cannot tell
# of its children (one was never seen alive).
DELETE_RECHECK_SECONDS = 2.0
# How often a waiting stage counts its children the watches still see; a
# changed count is written, an unchanged one costs the API server nothing.
STAGE_WAIT_SECONDS = 20.0
# How long one handler call waits for a stage whose count does not change
# before kopf writes the status and the next call lists the stage again (a
# bound for what the watches could miss, well inside owners.GOING_SECONDS).
STAGE_REPORT_SECONDS = 300.0
STAGE_LOOK_AGAIN_SECONDS = 0.5
# How often the health timer looks whether status.nextHealthCheckTime has come
# (a read of the body kopf already has; it writes only then).
HEALTH_CHECK_SECONDS = 15.0


def reconciler(ctx: ClusterContext) -> Reconciler[ClusterSpec, steps.Run]:
    return Reconciler(
        kind=CLUSTER,
        parse=parse,
        context=lambda spec, body: steps.make_run(spec, body, ctx),
        steps=steps.STEPS,
        report=steps.report,
        spec_pause=True,
    )


def announce(body: kopf.Body, before: Sequence[Mapping[str, Any]], patch: Any) -> None:
    """A Kubernetes Event for each condition that flipped in this reconcile."""
    after = ((patch or {}).get("status") or {}).get("conditions") or []
    for flip in transitions(before, after):
        message = f"{flip.type}={flip.status}: {flip.message}"[:1000]
        healthy = flip.status == c.TRUE or flip.type in (c.PAUSED, c.DELETING)
        if healthy:
            kopf.info(body, reason=flip.reason or flip.type, message=message)
        else:
            kopf.warn(body, reason=flip.reason or flip.type, message=message)


async def next_stage(
    memo: Any,
    cluster: Any,
    reported: str | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[steps.DeletionStage, float]:
    """Delete the next stage's children; while that stage does not change, wait here.

    The watches tell when a stage's children are gone (``owners.until_gone``),
    so the stage is listed again then, not on a retry every few seconds: each
    retry cost the Cluster a progress write by kopf, a status write and a
    listing. While a stage's children go slowly the call goes on waiting and
    writes nothing: 1,000 Clusters deleted at once, each back in kopf every
    20 s, made the API server answer 3,400 such requests a minute and starve
    the operators that delete the children.

    It returns to kopf, which writes the status and comes back after the
    delay returned with it, when: the stage is not the one the status names
    (``reported``), so every stage is named in turn; the count of its
    children the watches still see changed (looked at every
    ``STAGE_WAIT_SECONDS``); ``STAGE_REPORT_SECONDS`` passed, so the next
    call lists the stage again; or the watches cannot tell (a child never
    seen alive), after ``DELETE_RECHECK_SECONDS``.
    """
    stage = await asyncio.to_thread(steps.delete_next, memo.client(), cluster)
    if stage.name != reported:
        return stage, STAGE_LOOK_AGAIN_SECONDS
    deadline = clock() + STAGE_REPORT_SECONDS
    while stage.name is not None:
        gone = await owners.until_gone(memo.seen, stage.keys, within=STAGE_WAIT_SECONDS)
        if gone is None:
            return stage, DELETE_RECHECK_SECONDS
        if not gone:
            left = owners.still_seen(memo.seen, stage.keys)
            if len(left) != stage.left or clock() >= deadline:
                return replace(stage, left=len(left), keys=left), STAGE_LOOK_AGAIN_SECONDS
            continue
        following = await asyncio.to_thread(steps.delete_next, memo.client(), cluster)
        if following.name != stage.name:
            return following, STAGE_LOOK_AGAIN_SECONDS
        stage = following
    return stage, 0.0


def register(registry: kopf.OperatorRegistry, settings: None) -> None:
    group, version, plural = CLUSTER.group, CLUSTER.version, CLUSTER.plural

    @kopf.on.resume(group, version, plural, registry=registry, id="reconcile")
    @kopf.on.create(group, version, plural, registry=registry, id="reconcile")
    @kopf.on.update(group, version, plural, registry=registry, id="reconcile")
    async def _reconcile(
        body: kopf.Body, patch: kopf.Patch, memo: Any, retry: int, **_: Any
    ) -> None:
        # Pausing is done in this handler, not in one of its own: while a
        # second handler of the same change waited to retry, a child's change
        # that woke the Cluster meanwhile was taken into that change by kopf,
        # and the reconcile, already done, did not run for it (2 of 1,000
        # Clusters stayed not Ready until their health check).
        failed = await pause_children(body, memo)
        before = list((body.get("status") or {}).get("conditions") or [])
        try:
            await reconcile(reconciler(memo), body=body, patch=patch, ctx=memo, retry=retry)
        finally:
            announce(body, before, patch)
        if failed is not None:
            delay = backoff(retry, memo.runtime.retry_delay, memo.runtime.max_retry_delay)
            raise kopf.TemporaryError(f"pausing the children failed: {failed}", delay=delay)

    @kopf.on.delete(group, version, plural, registry=registry, id="delete")
    async def _delete(body: kopf.Body, patch: kopf.Patch, memo: Any, **_: Any) -> None:
        owners.deleting(memo.going, body)
        before = list((body.get("status") or {}).get("conditions") or [])
        stage, delay = await next_stage(memo, ref(body), reported=deleting_stage(before))
        generation = int(body["metadata"].get("generation") or 0)
        conditions = set_condition(
            before, deleting(stage.name, stage.left), generation=generation, now=memo.clock()
        )
        patch.setdefault("status", {}).update({"phase": "Deleting", "conditions": conditions})
        announce(body, before, patch)
        if stage.name is not None:
            raise kopf.TemporaryError(f"removing {stage.name}", delay=delay)
        if memo.listed is not None:
            meta = body["metadata"]
            for kind in steps.CHILD_KINDS:
                memo.listed.drop((meta["namespace"], kind.kind, meta["name"]))

    @kopf.timer(
        group,
        version,
        plural,
        registry=registry,
        id="health",
        interval=HEALTH_CHECK_SECONDS,
        # kopf re-evaluates a filter on events only, so the time is looked at
        # inside: the timer exists while a check is scheduled at all.
        when=lambda body, **_: health_check_scheduled(body),
    )
    async def _health(body: kopf.Body, memo: Any, **_: Any) -> None:
        if not health_check_due(body, memo.clock()):
            return
        # A node's timeout ends without any child changing. The stamp makes
        # kopf run the reconcile handler, which judges node health again: one
        # handler writes the status, never two at once from different reads.
        stamp = {"metadata": {"annotations": {HEALTH_CHECK_ANNOTATION: timestamp(memo.clock())}}}
        await asyncio.to_thread(memo.client().patch, ref_of(body), stamp)

    for kind in steps.CHILD_KINDS:
        owners.watch_children(
            registry,
            (GROUP, VERSION, kind.plural),
            CHILD_LINK,
            labels={CLUSTER_LABEL: kopf.PRESENT},
            id=f"watch-{kind.plural}",
            keep=True,
        )


async def pause_children(body: kopf.Body, memo: Any) -> str | None:
    """Set or lift the children's pause as the Cluster says; why it failed, or None."""
    why = pause_reason(body["metadata"], body.get("spec") or {})
    try:
        changed = await asyncio.to_thread(
            steps.propagate_pause, memo.pauser(), ref(body), why is not None, memo.listed
        )
    except ApiError as exc:
        return exc.message
    if changed:
        verb = "paused" if why else "resumed"
        kopf.info(body, reason=verb.capitalize(), message=f"{verb} {len(changed)} children")
    return None


def health_check_scheduled(body: Mapping[str, Any]) -> bool:
    """Whether the status names a moment to judge node health again."""
    if (body.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return bool((body.get("status") or {}).get("nextHealthCheckTime"))


def health_check_due(body: Mapping[str, Any], now: datetime) -> bool:
    """Whether a not-Ready node has fallen due since the last reconcile (the
    status says when the first will): at rest, and while nodes only start, the
    timer writes nothing."""
    if (body.get("metadata") or {}).get("deletionTimestamp"):
        return False
    due = parse_timestamp((body.get("status") or {}).get("nextHealthCheckTime"))
    return due is not None and due <= now


def ref_of(body: Mapping[str, Any]) -> ObjectRef:
    meta = body["metadata"]
    return ObjectRef(API_VERSION, CLUSTER.kind, str(meta["name"]), str(meta["namespace"]))


async def notify_owner(ctx: ClusterContext, body: Mapping[str, Any], *, deleted: bool) -> None:
    """Touch the owning Cluster's annotation when what it reads of ``body`` changed."""
    await owners.notify_owner(
        ctx.client(), CHILD_LINK, ctx.sent, body, deleted=deleted, going=ctx.going
    )
