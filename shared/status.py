"""Status computed in one place: a report of what was observed -> the status patch.

Pure. Every reconciliation, failed ones included, ends in ``status_patch`` so
that ``observedGeneration``, ``phase`` and the conditions always agree.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared import conditions as cond
from shared.api import conditions as c
from shared.api import phases
from shared.errors import Verdict


@dataclass(frozen=True)
class Report:
    """What one reconciliation concluded, before it is written."""

    phase: str
    observations: Sequence[cond.Observation] = ()
    # Other status fields of the kind (e.g. ``notAfter``, ``vni``), merged as given.
    fields: Mapping[str, Any] = field(default_factory=dict)
    # When no Ready observation is given, Ready summarizes these condition types.
    ready_from: Sequence[str] = ()


def status_patch(
    current: Mapping[str, Any] | None,
    report: Report,
    *,
    generation: int,
    now: datetime,
    observed: bool = True,
) -> dict[str, Any]:
    """The ``status`` merge patch for ``report`` on top of the ``current`` status.

    ``observed=False`` (while paused) leaves ``observedGeneration`` alone: the
    spec was seen but not acted upon.
    """
    status = current or {}
    conditions = cond.set_all(
        status.get("conditions") or [], report.observations, generation=generation, now=now
    )
    has_ready = any(o.type == c.READY for o in report.observations)
    if not has_ready and report.ready_from:
        ready = cond.summarize(conditions, report.ready_from)
        conditions = cond.set_condition(conditions, ready, generation=generation, now=now)
    patch: dict[str, Any] = {**report.fields, "phase": report.phase, "conditions": conditions}
    if observed:
        patch["observedGeneration"] = generation
    return patch


def failure_report(verdict: Verdict, *, step: str | None, phase: str) -> Report:
    """Ready=False from a failed step; an invalid spec makes the phase Failed."""
    where = f"step {step}: " if step else ""
    ready = cond.Observation.false(c.READY, verdict.reason, f"{where}{verdict.message}")
    return Report(phase=phase if verdict.retry else phases.FAILED, observations=(ready,))


def paused_report(reason: str, phase: str) -> Report:
    return Report(
        phase=phase,
        observations=(cond.Observation.true(c.PAUSED, c.REASON_PAUSED, f"paused: {reason}"),),
    )
