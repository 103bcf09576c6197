"""The body every g8s reconcile handler shares: pause, parse, steps, status.

Handlers stay a few lines: they hand the object and a ``Reconciler`` to
``reconcile``. Here the kit decides, the same way for all five kinds, what a
pause, an invalid spec or a failed step does to the status and to retrying:
an invalid spec is written as ``Ready=False`` and not retried; a failed step
is written and retried with the translated delay through
``kopf.TemporaryError`` (never a sleep loop).
"""

import contextlib
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import kopf

from shared import logs
from shared.api import conditions as c
from shared.api import phases
from shared.api.kinds import Kind
from shared.conditions import Observation
from shared.errors import InvalidSpec, translate
from shared.pause import pause_reason
from shared.runtime import OperatorContext
from shared.status import Report, failure_report, paused_report, status_patch
from shared.steps import Outcome, RetryPolicy, Step, run_steps

S = TypeVar("S")
C = TypeVar("C")

PARSE_STEP = "parse"


@dataclass(frozen=True)
class Reconciler(Generic[S, C]):
    """How one kind is reconciled, as pure-ish parts the kit wires together."""

    kind: Kind
    # Typed view of the object; raises InvalidSpec on input the CRD let through.
    parse: Callable[[Mapping[str, Any]], S]
    # The step context (spec, body, clients) for one run.
    context: Callable[[S, Mapping[str, Any]], C]
    steps: Sequence[Step[C]]
    # What the run observed -> status. Called after failed runs too.
    report: Callable[[S, C, Outcome], Report]
    # Phase shown while the object is paused or a step failed and will retry.
    pending_phase: str = phases.PENDING
    # Whether spec.paused pauses this kind (the Cluster), besides the annotations.
    spec_pause: bool = False


async def reconcile(
    reconciler: Reconciler[S, C],
    *,
    body: Mapping[str, Any],
    patch: MutableMapping[str, Any],
    ctx: OperatorContext,
    retry: int,
) -> None:
    meta = body["metadata"]
    kind = reconciler.kind.kind
    log = logs.get_logger(
        f"g8s.{ctx.identity.name}", kind=kind, namespace=meta.get("namespace"), name=meta["name"]
    )
    generation = int(meta.get("generation") or 0)
    current = body.get("status") or {}
    phase = str(current.get("phase") or reconciler.pending_phase)
    now = ctx.clock()

    spec = body.get("spec") or {}
    paused = pause_reason(meta, spec if reconciler.spec_pause else None)
    if paused is not None:
        log.info("paused, not reconciling", why=paused)
        report = paused_report(paused, phase)
        _write(patch, status_patch(current, report, generation=generation, now=now, observed=False))
        return

    policy = RetryPolicy(retry, ctx.runtime.retry_delay, ctx.runtime.max_retry_delay)
    try:
        parsed = reconciler.parse(body)
    except InvalidSpec as exc:
        verdict = translate(exc, attempt=retry, base=policy.base, ceiling=policy.ceiling)
        ctx.metrics.reconciliations.labels(kind, PARSE_STEP, "invalid").inc()
        ctx.metrics.errors.labels(kind, PARSE_STEP, verdict.reason).inc()
        log.warning("invalid spec", reason=verdict.reason, message=verdict.message)
        report = _unpaused(failure_report(verdict, step=None, phase=phase))
        _write(patch, status_patch(current, report, generation=generation, now=now))
        return

    step_context = reconciler.context(parsed, body)
    outcome = await run_steps(
        reconciler.steps, step_context, kind=kind, metrics=ctx.metrics, log=log, policy=policy
    )
    report = reconciler.report(parsed, step_context, outcome)
    if outcome.verdict is not None and not any(o.type == c.READY for o in report.observations):
        failed = failure_report(outcome.verdict, step=outcome.failed_step, phase=report.phase)
        report = Report(
            phase=failed.phase,
            observations=(*report.observations, *failed.observations),
            fields=report.fields,
        )
    _write(patch, status_patch(current, _unpaused(report), generation=generation, now=now))
    if outcome.verdict is not None and outcome.verdict.retry:
        raise kopf.TemporaryError(outcome.verdict.message, delay=outcome.verdict.delay)


def _unpaused(report: Report) -> Report:
    resumed = Observation.false(c.PAUSED, c.REASON_NOT_PAUSED, "")
    return Report(
        phase=report.phase,
        observations=(*report.observations, resumed),
        fields=report.fields,
        ready_from=report.ready_from,
    )


def _write(patch: MutableMapping[str, Any], status: Mapping[str, Any]) -> None:
    target = patch.setdefault("status", {})
    target.update(status)


Bind = Callable[[Any], Reconciler[Any, Any]]


def register(registry: kopf.OperatorRegistry, reconciler: Reconciler[Any, Any]) -> None:
    """Reconcile ``reconciler.kind`` on resume, create and update (spec or metadata)."""
    register_bound(registry, reconciler.kind, lambda _: reconciler)


def register_bound(
    registry: kopf.OperatorRegistry,
    kind: Kind,
    bind: Bind,
    *,
    resync: float | None = None,
    resync_bind: Bind | None = None,
    resync_id: str = "resync",
    resync_idle: float | None = None,
) -> None:
    """Reconcile ``kind`` on resume, create and update, with a reconciler bound to the
    operator's context (kopf memo) on each call, since steps need its clients.

    With ``resync`` seconds, a timer reconciles again (``resync_bind``'s
    reconciler if given) so that what changes outside the object — member
    health, host reports, schedules — is looked at; with ``resync_idle`` it
    waits until the object has not changed for that long. It writes nothing
    when the status would not change, so an object at rest costs the API
    server no writes.
    """
    resource = (kind.group, kind.version, kind.plural)

    @kopf.on.resume(*resource, registry=registry, id="reconcile")
    @kopf.on.create(*resource, registry=registry, id="reconcile")
    @kopf.on.update(*resource, registry=registry, id="reconcile")
    async def _reconcile(
        body: kopf.Body, patch: kopf.Patch, memo: Any, retry: int, **_: Any
    ) -> None:
        await reconcile(bind(memo), body=body, patch=patch, ctx=memo, retry=retry)

    if resync is None:
        return
    rebind = resync_bind or bind

    @kopf.timer(
        *resource,
        registry=registry,
        id=resync_id,
        interval=resync,
        initial_delay=resync,
        idle=resync_idle,
    )
    async def _resync(body: kopf.Body, patch: kopf.Patch, memo: Any, **_: Any) -> None:
        if (body.get("metadata") or {}).get("deletionTimestamp"):
            # The deletion handler owns it now. A reconcile would undo what the
            # release freed, and a status write between kopf's two patches that
            # remove the finalizer makes kopf drop the removal until the next
            # event (a ClusterNetwork released in a bench stayed 60 s more).
            return
        # The timer comes back on its own; the status already says why it failed.
        with contextlib.suppress(kopf.TemporaryError):
            await reconcile(rebind(memo), body=body, patch=patch, ctx=memo, retry=0)
        if (body.get("metadata") or {}).get("deletionTimestamp"):
            # Deleted while this ran (a timer's body is kopf's live view): the
            # same race as above, and this patch would go after the delete.
            patch.clear()
            return
        if unchanged(body.get("status") or {}, patch.get("status") or {}):
            patch.pop("status", None)


def unchanged(current: Mapping[str, Any], status_patch: Mapping[str, Any]) -> bool:
    """Whether writing ``status_patch`` over status ``current`` would change nothing."""
    return all(current.get(key) == value for key, value in status_patch.items())


def observing(kind: Kind, parse: Callable[[Mapping[str, Any]], S]) -> Reconciler[S, S]:
    """A reconciler that validates and records the spec but changes nothing.

    What an operator runs before it has steps of its own: ``observedGeneration``
    advances, an invalid spec is reported, and Ready stays Unknown with a
    message that says nothing is reconciled, so no one mistakes it for done.
    """

    def report(_: S, __: S, ___: Outcome) -> Report:
        waiting = Observation.unknown(
            c.READY, c.REASON_OBSERVED, f"{kind.kind} observed; {kind.operator} has no steps yet"
        )
        return Report(phase=phases.PENDING, observations=(waiting,))

    return Reconciler(kind=kind, parse=parse, context=lambda spec, _: spec, steps=(), report=report)
