"""Renewal: one schedule per process wakes each Certificate at its ``status.renewalTime``.

No periodic scan and no task per Certificate: an event handler notes every
Certificate's renewal time in the process's ``Schedule`` as its watch events
arrive, and one loop sleeps until the earliest is due (or a noted time
changes). When one is due, the loop stamps the annotation
``g8s.io/renewal-due``; that update runs the ordinary reconcile handler, where
the renewal policy (from the certificate's own NotAfter) decides and issues,
with the usual retries and status. A stamped Certificate is looked at again
``renewal_check_interval`` later, unless its renewal time moved before that.

Why not a kopf daemon per Certificate: kopf keeps the latest body of every
object that has a daemon, as the daemon's live view. At 100 clusters that was
1,500 Certificates held whole, 44 of the operator's 88 MiB of live objects
(docs/performance.md). The schedule keeps a reference and a time per
Certificate. No kopf import: ``handlers`` feeds the schedule and runs the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from operators.certificates import policies
from shared import logs
from shared.api import certificates as catalogue
from shared.conditions import parse_timestamp, timestamp
from shared.errors import ApiError
from shared.kube import ObjectRef

if TYPE_CHECKING:
    from operators.certificates.context import CertificatesContext


@dataclass
class Entry:
    """One Certificate's renewal time, and the moment before which it is not stamped again."""

    ref: ObjectRef
    renewal: datetime | None
    not_before: datetime | None = None


@dataclass
class Schedule:
    """The renewal time of every Certificate this process watches, by (namespace, name)."""

    entries: dict[tuple[str, str], Entry] = field(default_factory=dict)
    # Set when a noted time is due before the loop's next look, so that it looks
    # again at once.
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    # When the loop looks next; None while it looks. Each look goes through every
    # entry, so waking it for a time after its next look would only repeat that:
    # 1,000 clusters' 15,000 new Certificates would cost 15,000 looks at up to
    # 15,000 entries each.
    next_look: datetime | None = None

    def note(self, body: Mapping[str, Any]) -> None:
        """Take the renewal time of ``body`` (a Certificate as a watch event gave it)."""
        meta = body["metadata"]
        key = (str(meta["namespace"]), str(meta["name"]))
        if meta.get("deletionTimestamp"):
            self.forget(*key)
            return
        renewal = parse_timestamp((body.get("status") or {}).get("renewalTime"))
        known = self.entries.get(key)
        if known is not None and known.renewal == renewal:
            return
        ref = ObjectRef(str(body["apiVersion"]), str(body["kind"]), key[1], key[0])
        self.entries[key] = Entry(ref, renewal)
        if renewal is not None and (self.next_look is None or renewal < self.next_look):
            self.changed.set()

    def forget(self, namespace: str, name: str) -> None:
        self.entries.pop((namespace, name), None)


def due(
    entries: Iterable[Entry], now: datetime, check_interval: float
) -> tuple[list[Entry], float]:
    """The entries to stamp now, and the seconds until the next look (at most
    ``check_interval``). An entry without a renewal time waits for an event."""
    ready: list[Entry] = []
    wait = check_interval
    for entry in entries:
        if entry.renewal is None:
            continue
        at = max(entry.renewal, entry.not_before) if entry.not_before else entry.renewal
        delay = policies.seconds_until(at, now)
        if delay <= 0:
            ready.append(entry)
        else:
            wait = min(wait, delay)
    return ready, wait


async def run(schedule: Schedule, ctx: CertificatesContext) -> None:
    """Stamp each Certificate when its renewal is due, until cancelled."""
    log = logs.get_logger("g8s.certificates")
    interval = ctx.settings.renewal_check_interval
    while True:
        schedule.changed.clear()
        schedule.next_look = None
        now = ctx.clock()
        ready, wait = due(schedule.entries.values(), now, interval)
        for entry in ready:
            log.info(
                "renewal due, waking the reconciler",
                namespace=entry.ref.namespace,
                name=entry.ref.name,
                renewal_time=str(entry.renewal),
            )
            try:
                await asyncio.to_thread(_stamp, entry.ref, ctx)
            except (ApiError, OSError) as exc:
                log.warning("could not request renewal", name=entry.ref.name, error=str(exc))
            # Give the reconciler time to renew (or to fail and retry on its own).
            entry.not_before = now + timedelta(seconds=interval)
        if ready:
            continue  # stamping took time: look again before sleeping
        schedule.next_look = now + timedelta(seconds=wait)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(schedule.changed.wait(), timeout=wait)


def _stamp(ref: ObjectRef, ctx: CertificatesContext) -> None:
    if ctx.client().get(ref) is None:
        return
    ctx.client().apply(
        {
            "apiVersion": ref.api_version,
            "kind": ref.kind,
            "metadata": {
                "name": ref.name,
                "namespace": ref.namespace,
                "annotations": {catalogue.RENEWAL_DUE_ANNOTATION: timestamp(ctx.clock())},
            },
        }
    )
