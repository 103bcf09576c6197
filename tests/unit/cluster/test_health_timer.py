"""The health timer writes only once status.nextHealthCheckTime has come."""

from datetime import UTC, datetime
from typing import Any

import pytest

from operators.cluster.handlers import health_check_due, health_check_scheduled

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _body(next_check: str | None, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "c", "namespace": "ns"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    status = {} if next_check is None else {"nextHealthCheckTime": next_check}
    return {"metadata": meta, "status": status}


@pytest.mark.parametrize(
    ("next_check", "deleting", "due"),
    [
        (None, False, False),
        ("2026-01-01T12:00:01Z", False, False),
        ("2026-01-01T12:00:00Z", False, True),
        ("2026-01-01T11:00:00Z", False, True),
        ("2026-01-01T11:00:00Z", True, False),
        ("garbage", False, False),
    ],
)
def test_the_timer_writes_only_when_a_node_falls_due(
    next_check: str | None, deleting: bool, due: bool
) -> None:
    assert health_check_due(_body(next_check, deleting), NOW) is due


def test_the_timer_exists_only_while_a_check_is_scheduled() -> None:
    assert health_check_scheduled(_body("2026-01-01T12:00:00Z"))
    assert not health_check_scheduled(_body(None))
    assert not health_check_scheduled(_body("2026-01-01T12:00:00Z", deleting=True))
