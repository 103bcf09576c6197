"""The five-field cron matcher: parsing, errors naming the field, matching, next firing."""

from datetime import UTC, datetime

import pytest

from operators.etcd import cron


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_every_six_hours() -> None:
    schedule = cron.parse("0 */6 * * *")
    assert schedule.hours == frozenset({0, 6, 12, 18})
    assert schedule.minutes == frozenset({0})
    assert schedule.next_after(at("2026-05-01T06:00:00")) == at("2026-05-01T12:00:00")
    assert schedule.next_after(at("2026-05-01T05:59:59")) == at("2026-05-01T06:00:00")
    assert schedule.next_after(at("2026-05-01T23:10:00")) == at("2026-05-02T00:00:00")


def test_macros_and_ranges_with_steps() -> None:
    assert cron.parse("@daily") == cron.parse("0 0 * * *")
    assert cron.parse("@weekly").weekdays == frozenset({0})
    assert cron.parse("1-10/3 * * * *").minutes == frozenset({1, 4, 7, 10})
    assert cron.parse("5,10,15 * * * *").minutes == frozenset({5, 10, 15})
    assert cron.parse("30 3 * * *").next_after(at("2026-05-01T03:30:00")) == at(
        "2026-05-02T03:30:00"
    )


def test_sunday_is_zero_and_seven() -> None:
    assert cron.parse("0 0 * * 7").weekdays == frozenset({0})
    # 2026-05-03 is a Sunday.
    assert cron.parse("0 0 * * 7").next_after(at("2026-05-01T00:00:00")) == at("2026-05-03T00:00")


def test_day_of_month_or_day_of_week_when_both_restricted() -> None:
    schedule = cron.parse("0 0 13 * 5")  # the 13th, or any Friday
    assert schedule.matches(at("2026-05-13T00:00:00"))  # a Wednesday
    assert schedule.matches(at("2026-05-01T00:00:00"))  # a Friday
    assert not schedule.matches(at("2026-05-02T00:00:00"))


def test_month_rollover_and_leap_day() -> None:
    assert cron.parse("0 0 29 2 *").next_after(at("2026-03-01T00:00:00")) == at(
        "2028-02-29T00:00:00"
    )
    assert cron.parse("15 10 1 * *").next_after(at("2026-12-05T00:00:00")) == at(
        "2027-01-01T10:15:00"
    )


@pytest.mark.parametrize(
    ("expression", "complaint"),
    [
        ("0 */6 * *", "5 fields"),
        ("60 * * * *", "minute: 60 is outside 0-59"),
        ("* 24 * * *", "hour: 24"),
        ("* * 0 * *", "day of month: 0"),
        ("* * * 13 *", "month: 13"),
        ("*/0 * * * *", "bad step"),
        ("5-1 * * * *", "runs backwards"),
        ("MON * * * *", "not a number"),
    ],
)
def test_errors_name_the_field(expression: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        cron.parse(expression)


def test_a_schedule_that_never_fires_is_reported() -> None:
    with pytest.raises(ValueError, match="never fires"):
        cron.parse("0 0 31 2 *").next_after(at("2026-01-01T00:00:00"))
