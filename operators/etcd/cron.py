"""A small five-field cron matcher (minute hour day-of-month month day-of-week), in UTC.

Pure. Enough for backup and defragmentation schedules: numbers, ``*``,
ranges ``a-b``, steps ``*/n`` and ``a-b/n``, lists ``a,b``, the macros
``@hourly``, ``@daily``, ``@weekly``, ``@monthly``; day-of-week 0-7 with 0
and 7 both Sunday. As in Vixie cron, when both day fields are restricted a
day matches if either matches. Names (JAN, MON) and ``L``/``W``/``#`` are not
supported: a dependency for that was not worth it.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
# Search horizon for the next firing: long enough for "29 February on a Monday".
_HORIZON = timedelta(days=366 * 8)


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    day_restricted: bool
    weekday_restricted: bool

    def matches(self, moment: datetime) -> bool:
        moment = moment.astimezone(UTC)
        if moment.minute not in self.minutes or moment.hour not in self.hours:
            return False
        if moment.month not in self.months:
            return False
        return self._day_matches(moment)

    def _day_matches(self, moment: datetime) -> bool:
        day = moment.day in self.days
        weekday = (moment.isoweekday() % 7) in self.weekdays
        if self.day_restricted and self.weekday_restricted:
            return day or weekday
        return day and weekday

    def next_after(self, moment: datetime) -> datetime:
        """The first firing strictly after ``moment`` (to the minute)."""
        start = moment.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        candidate = start
        end = start + _HORIZON
        while candidate < end:
            if candidate.month not in self.months:
                candidate = _first_of_next_month(candidate)
                continue
            if not self._day_matches(candidate):
                candidate = (candidate + timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if candidate.hour not in self.hours:
                candidate = (candidate + timedelta(hours=1)).replace(minute=0)
                continue
            if candidate.minute not in self.minutes:
                candidate += timedelta(minutes=1)
                continue
            return candidate
        raise ValueError("schedule never fires")


def _first_of_next_month(moment: datetime) -> datetime:
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return moment.replace(year=year, month=month, day=1, hour=0, minute=0)


def _field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"{name}: bad step {step_text!r}")
            step = int(step_text)
        if base == "*":
            first, last = low, high
        elif "-" in base:
            first_text, _, last_text = base.partition("-")
            first, last = _number(first_text, name, low, high), _number(last_text, name, low, high)
            if first > last:
                raise ValueError(f"{name}: range {base!r} runs backwards")
        else:
            first = _number(base, name, low, high)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    return frozenset(values)


def _number(text: str, name: str, low: int, high: int) -> int:
    if not text.isdigit():
        raise ValueError(f"{name}: {text!r} is not a number")
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"{name}: {value} is outside {low}-{high}")
    return value


def parse(expression: str) -> Schedule:
    """Parse a cron expression; ``ValueError`` says which field is wrong."""
    text = _MACROS.get(expression.strip().lower(), expression.strip())
    parts = text.split()
    if len(parts) != len(_FIELDS):
        raise ValueError(f"cron expression {expression!r} must have 5 fields, has {len(parts)}")
    sets = [
        _field(part, name, low, high)
        for part, (name, low, high) in zip(parts, _FIELDS, strict=True)
    ]
    weekdays = frozenset(7 % 7 if day == 7 else day for day in sets[4])
    return Schedule(
        minutes=sets[0],
        hours=sets[1],
        days=sets[2],
        months=sets[3],
        weekdays=weekdays,
        day_restricted=parts[2] != "*",
        weekday_restricted=parts[4] != "*",
    )
