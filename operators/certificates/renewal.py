"""Per-certificate renewal timer: sleep until ``status.renewalTime``, then wake the reconciler.

No periodic scan: each Certificate's timer (a kopf daemon) sleeps until its own
renewal time, read from the live object's status. When it is due, the timer
stamps the annotation ``g8s.io/renewal-due``; that update runs the ordinary
reconcile handler, where the renewal policy (from the certificate's own
NotAfter) decides and issues, with the usual retries and status. No kopf
import: the daemon in ``handlers`` hands over its body and stop flag.
"""

import asyncio
from collections.abc import Awaitable, Mapping
from datetime import datetime
from typing import Any, Protocol

from operators.certificates import policies
from operators.certificates.context import CertificatesContext
from shared import logs
from shared.api import certificates as catalogue
from shared.conditions import parse_timestamp, timestamp
from shared.errors import ApiError
from shared.kube import ObjectRef


class Stopper(Protocol):
    """What a kopf daemon's ``stopped`` flag offers."""

    def __bool__(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> Awaitable[Any]: ...


def next_wake(status: Mapping[str, Any], now: datetime, check_interval: float) -> float | None:
    """Seconds to sleep before looking again; None when renewal is due now."""
    renewal = parse_timestamp(status.get("renewalTime"))
    if renewal is None:
        return check_interval
    delay = policies.seconds_until(renewal, now)
    if delay <= 0:
        return None
    # Re-read the live status now and then: a re-issue moves renewalTime.
    return min(delay, check_interval)


async def schedule(body: Mapping[str, Any], ctx: CertificatesContext, stopped: Stopper) -> None:
    meta = body["metadata"]
    log = logs.get_logger("g8s.certificates", namespace=meta["namespace"], name=meta["name"])
    interval = ctx.settings.renewal_check_interval
    while not stopped:
        delay = next_wake(body.get("status") or {}, ctx.clock(), interval)
        if delay is not None:
            await stopped.wait(delay)
            continue
        due = str((body.get("status") or {}).get("renewalTime"))
        log.info("renewal due, waking the reconciler", renewal_time=due)
        try:
            await asyncio.to_thread(_stamp, body, ctx)
        except ApiError as exc:
            log.warning("could not request renewal", error=str(exc))
        # Give the reconciler time to renew (or to fail and retry on its own).
        await stopped.wait(interval)


def _stamp(body: Mapping[str, Any], ctx: CertificatesContext) -> None:
    meta = body["metadata"]
    ref = ObjectRef(body["apiVersion"], body["kind"], meta["name"], meta["namespace"])
    if ctx.client().get(ref) is None:
        return
    ctx.client().apply(
        {
            "apiVersion": body["apiVersion"],
            "kind": body["kind"],
            "metadata": {
                "name": meta["name"],
                "namespace": meta["namespace"],
                "annotations": {catalogue.RENEWAL_DUE_ANNOTATION: timestamp(ctx.clock())},
            },
        }
    )
