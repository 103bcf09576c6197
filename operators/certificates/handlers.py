"""kopf registrations of the certificates operator; the logic lives elsewhere.

- reconcile (resume/create/update): the kit's reconcile with this operator's steps;
- renewal: an event handler notes each Certificate's renewal time in the process's
  schedule, and one task stamps those due, which wakes reconcile;
- a watch on the operator's own Secrets (by label): one deleted or edited by hand
  wakes its Certificate (``shared.owners``), which re-issues it if it is broken;
- release (delete, behind the operator's finalizer): revoke (unless the whole
  cluster goes, and its PKI mount with it), tear down the cluster's PKI with
  its last Certificate, and hold until the TLS Secret (and a pending key
  left by an interrupted issuance) is gone.
"""

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import kopf

from operators.certificates import reconcile as steps
from operators.certificates import renewal
from operators.certificates import status as certificate_status
from operators.certificates.children import pending_key_secret
from operators.certificates.context import CertificatesContext, CertificatesSettings
from operators.certificates.model import CertificateSpec, parse
from shared import logs, owners, teardown
from shared.api import API_VERSION
from shared.api import certificates as catalogue
from shared.api.kinds import CERTIFICATE, CLUSTER
from shared.api.labels import CHILDREN_ANNOTATION, MANAGED_BY, managed_by
from shared.handling import Reconciler, register_bound
from shared.kube import ObjectRef
from shared.status import Report
from shared.steps import Outcome, RetryPolicy, run_steps


def reconciler(ctx: CertificatesContext) -> Reconciler[CertificateSpec, steps.Run]:
    def report(spec: CertificateSpec, run: steps.Run, outcome: Outcome) -> Report:
        return certificate_status.report(
            spec,
            state=run.state,
            decision=run.decision,
            outcome=outcome,
            previous=run.body.get("status") or {},
            now=run.now,
            ca_rotation=run.ca_phase.text() if run.ca_phase is not None else "",
        )

    return Reconciler(
        kind=CERTIFICATE,
        parse=parse,
        context=lambda spec, body: steps.make_run(spec, body, ctx),
        steps=steps.STEPS,
        report=report,
    )


def register(registry: kopf.OperatorRegistry, settings: CertificatesSettings) -> None:
    kind = CERTIFICATE
    resource = (kind.group, kind.version, kind.plural)

    register_bound(registry, kind, reconciler)

    # A Secret deleted or edited by hand wakes its Certificate at once, which
    # re-issues it when it no longer holds a matching key, certificate and CA.
    owners.watch_children(
        registry,
        ("", "v1", "secrets"),
        SECRET_LINK,
        labels={MANAGED_BY: managed_by(kind.operator)},
        id="watch-secrets",
    )

    # Renewal: every event notes the Certificate's renewal time in the process's
    # schedule; one task stamps those due (operators/certificates/renewal.py).
    @kopf.on.event(*resource, registry=registry, id="renewal")
    async def _renewal(event: kopf.RawEvent, body: kopf.Body, memo: Any, **_: Any) -> None:
        if event.get("type") == "DELETED":
            memo.renewals.forget(body["metadata"]["namespace"], body["metadata"]["name"])
        else:
            memo.renewals.note(body)

    @kopf.on.startup(registry=registry, id="renewal")
    async def _start_renewal(memo: Any, **_: Any) -> None:
        memo.renewal_task = asyncio.create_task(renewal.run(memo.renewals, memo))

    @kopf.on.cleanup(registry=registry, id="renewal")
    async def _stop_renewal(memo: Any, **_: Any) -> None:
        task = getattr(memo, "renewal_task", None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @kopf.on.delete(*resource, registry=registry, id="release")
    async def _release(body: kopf.Body, memo: Any, retry: int, **_: Any) -> None:
        owners.deleting(memo.going, body)
        await release(body, memo, retry)
        # The Secret goes before the Certificate does (shared.teardown).
        scope = teardown.scope_of(body, (), named=written(body))
        await teardown.hold_until_gone(memo.client(), scope)


SECRET_LINK = owners.Link(API_VERSION, CERTIFICATE.kind, CHILDREN_ANNOTATION, steps.secret_token)


def written(body: Mapping[str, Any]) -> tuple[ObjectRef, ...]:
    """The Secrets a Certificate writes (none when its spec does not say which)."""
    spec = body.get("spec") or {}
    cluster, component, node = spec.get("cluster"), spec.get("component"), spec.get("node")
    if not isinstance(cluster, str) or not isinstance(component, str):
        return ()
    own = spec.get("secretName")
    name = (
        own
        if isinstance(own, str) and own
        else catalogue.secret_name(cluster, component, node if isinstance(node, str) else "")
    )
    namespace = body["metadata"]["namespace"]
    # A pending key is left only by an interrupted issuance; it goes too.
    pending = pending_key_secret.name_of(name)
    return tuple(ObjectRef("v1", "Secret", n, namespace) for n in (name, pending))


async def release(body: Mapping[str, Any], ctx: CertificatesContext, retry: int) -> None:
    meta = body["metadata"]
    spec = body.get("spec") or {}
    cluster, component = spec.get("cluster"), spec.get("component")
    log = logs.get_logger("g8s.certificates", namespace=meta["namespace"], name=meta["name"])
    if not isinstance(cluster, str) or not isinstance(component, str):
        log.info("nothing to release: no cluster or component in the spec")
        return
    node = spec.get("node")
    job = steps.Release(
        meta["namespace"],
        meta["name"],
        cluster,
        component,
        ctx,
        node=node if isinstance(node, str) else "",
        secret_name=str(spec.get("secretName") or ""),
        uid=str(meta.get("uid") or ""),
        owner_cluster=next(
            (
                str(owner.get("uid") or "")
                for owner in meta.get("ownerReferences") or []
                if owner.get("kind") == CLUSTER.kind
            ),
            "",
        ),
    )
    policy = RetryPolicy(retry, ctx.runtime.retry_delay, ctx.runtime.max_retry_delay)
    outcome = await run_steps(
        steps.RELEASE_STEPS, job, kind=CERTIFICATE.kind, metrics=ctx.metrics, log=log, policy=policy
    )
    if outcome.verdict is not None and outcome.verdict.retry:
        raise kopf.TemporaryError(outcome.verdict.message, delay=outcome.verdict.delay)
    log.info("released", pki_removed=job.torn_down, mount=job.mount)
