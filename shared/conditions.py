"""Conditions in the Kubernetes shape, maintained the cluster-api way.

Pure functions over plain lists of dicts (what ``status.conditions`` holds):
``lastTransitionTime`` moves only when ``status`` flips, ``observedGeneration``
is stamped on every write, ``Ready`` always exists and always comes first, and
the clock is passed in so tests need no sleeping.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.api import conditions as c

Clock = Callable[[], datetime]
Condition = dict[str, Any]


def utc_now() -> datetime:
    return datetime.now(UTC)


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with second precision, as Kubernetes writes it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: Any) -> datetime | None:
    """An RFC 3339 time as Kubernetes writes it; None for anything else."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Observation:
    """What a reconciliation concluded about one condition type."""

    type: str
    status: c.ConditionStatus
    reason: str
    message: str = ""

    @classmethod
    def true(cls, type_: str, reason: str, message: str = "") -> "Observation":
        return cls(type_, c.TRUE, reason, message)

    @classmethod
    def false(cls, type_: str, reason: str, message: str = "") -> "Observation":
        return cls(type_, c.FALSE, reason, message)

    @classmethod
    def unknown(cls, type_: str, reason: str, message: str = "") -> "Observation":
        return cls(type_, c.UNKNOWN, reason, message)


def get(conditions: Iterable[Mapping[str, Any]], type_: str) -> Mapping[str, Any] | None:
    for condition in conditions:
        if condition.get("type") == type_:
            return condition
    return None


def is_true(conditions: Iterable[Mapping[str, Any]], type_: str) -> bool:
    found = get(conditions, type_)
    return found is not None and found.get("status") == c.TRUE


def set_condition(
    conditions: Sequence[Mapping[str, Any]],
    observation: Observation,
    *,
    generation: int,
    now: datetime,
) -> list[Condition]:
    """Return ``conditions`` with ``observation`` recorded; the input is not changed."""
    previous = get(conditions, observation.type)
    flipped = previous is None or previous.get("status") != observation.status
    transition = timestamp(now) if flipped else str(previous["lastTransitionTime"])  # type: ignore[index]
    updated: Condition = {
        "type": observation.type,
        "status": observation.status,
        "reason": observation.reason,
        "message": observation.message,
        "lastTransitionTime": transition,
        "observedGeneration": generation,
    }
    result = [dict(cond) for cond in conditions if cond.get("type") != observation.type]
    result.append(updated)
    return _ready_first(result, generation=generation, now=now)


def set_all(
    conditions: Sequence[Mapping[str, Any]],
    observations: Iterable[Observation],
    *,
    generation: int,
    now: datetime,
) -> list[Condition]:
    result: list[Condition] = [dict(cond) for cond in conditions]
    for observation in observations:
        result = set_condition(result, observation, generation=generation, now=now)
    return _ready_first(result, generation=generation, now=now)


def remove(conditions: Sequence[Mapping[str, Any]], type_: str) -> list[Condition]:
    if type_ == c.READY:
        raise ValueError("the Ready condition is always present")
    return [dict(cond) for cond in conditions if cond.get("type") != type_]


def summarize(
    conditions: Sequence[Mapping[str, Any]],
    types: Sequence[str],
    *,
    ready_reason: str = c.REASON_RECONCILED,
    ready_message: str = "",
) -> Observation:
    """The Ready observation implied by the conditions ``types``.

    Ready is True only when every listed condition is True. Otherwise the first
    False one (in the order given) decides the reason, then the first Unknown
    or missing one; the message names that condition so a user knows where to look.
    """
    missing: list[str] = []
    unknown: list[Mapping[str, Any]] = []
    for type_ in types:
        found = get(conditions, type_)
        if found is None:
            missing.append(type_)
        elif found.get("status") == c.FALSE:
            return Observation.false(c.READY, str(found["reason"]), _explain(found))
        elif found.get("status") != c.TRUE:
            unknown.append(found)
    if unknown:
        first = unknown[0]
        return Observation.unknown(c.READY, str(first["reason"]), _explain(first))
    if missing:
        return Observation.unknown(
            c.READY, c.REASON_NOT_OBSERVED, f"{', '.join(missing)} not reported yet"
        )
    return Observation.true(c.READY, ready_reason, ready_message)


def _explain(condition: Mapping[str, Any]) -> str:
    message = str(condition.get("message") or condition.get("reason") or "")
    return f"{condition['type']}: {message}"


def _ready_first(conditions: list[Condition], *, generation: int, now: datetime) -> list[Condition]:
    ready = [cond for cond in conditions if cond.get("type") == c.READY]
    rest = [cond for cond in conditions if cond.get("type") != c.READY]
    if not ready:
        ready = [
            {
                "type": c.READY,
                "status": c.UNKNOWN,
                "reason": c.REASON_NOT_OBSERVED,
                "message": "not reconciled yet",
                "lastTransitionTime": timestamp(now),
                "observedGeneration": generation,
            }
        ]
    return ready + rest
