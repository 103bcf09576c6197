"""The conditions helper: transitions, Ready first, summaries.

See docs/design.md#status-and-conditions.
"""

from datetime import UTC, datetime, timedelta

import pytest

from shared import conditions as cond
from shared.api import conditions as c

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def test_new_condition_gets_transition_time_and_generation() -> None:
    result = cond.set_condition(
        [], cond.Observation.true("EtcdReady", "Healthy"), generation=3, now=T0
    )
    etcd = cond.get(result, "EtcdReady")
    assert etcd is not None
    assert etcd["lastTransitionTime"] == "2026-01-01T12:00:00Z"
    assert etcd["observedGeneration"] == 3


def test_transition_time_moves_only_when_status_flips() -> None:
    first = cond.set_condition(
        [], cond.Observation.false(c.READY, "Waiting", "a"), generation=1, now=T0
    )
    same = cond.set_condition(
        first, cond.Observation.false(c.READY, "Other", "b"), generation=2, now=T1
    )
    ready = cond.get(same, c.READY)
    assert ready is not None
    assert ready["lastTransitionTime"] == "2026-01-01T12:00:00Z"
    assert ready["reason"] == "Other"
    assert ready["observedGeneration"] == 2
    flipped = cond.set_condition(same, cond.Observation.true(c.READY, "Done"), generation=2, now=T1)
    assert cond.get(flipped, c.READY)["lastTransitionTime"] == "2026-01-01T12:05:00Z"  # type: ignore[index]


def test_ready_is_always_present_and_first() -> None:
    result = cond.set_condition([], cond.Observation.true("Issuing", "Done"), generation=1, now=T0)
    assert [x["type"] for x in result] == [c.READY, "Issuing"]
    assert result[0]["status"] == c.UNKNOWN
    result = cond.set_condition(
        result, cond.Observation.true(c.READY, "Done"), generation=1, now=T0
    )
    assert [x["type"] for x in result] == [c.READY, "Issuing"]


def test_input_is_not_modified() -> None:
    original = [
        {
            "type": c.READY,
            "status": "False",
            "reason": "X",
            "message": "",
            "lastTransitionTime": "2020-01-01T00:00:00Z",
            "observedGeneration": 1,
        }
    ]
    cond.set_condition(original, cond.Observation.true(c.READY, "Y"), generation=2, now=T0)
    assert original[0]["status"] == "False"


def test_is_true() -> None:
    result = cond.set_all(
        [],
        [cond.Observation.true("A", "R"), cond.Observation.false("B", "R")],
        generation=1,
        now=T0,
    )
    assert cond.is_true(result, "A")
    assert not cond.is_true(result, "B")
    assert not cond.is_true(result, "Missing")


def test_ready_cannot_be_removed() -> None:
    with pytest.raises(ValueError, match="always present"):
        cond.remove([], c.READY)


def _conditions(*observations: cond.Observation) -> list[cond.Condition]:
    return cond.set_all([], observations, generation=1, now=T0)


def test_summarize_all_true() -> None:
    result = cond.summarize(
        _conditions(cond.Observation.true("A", "Ok"), cond.Observation.true("B", "Ok")), ["A", "B"]
    )
    assert (result.status, result.reason) == (c.TRUE, c.REASON_RECONCILED)


def test_summarize_first_false_wins_and_names_the_condition() -> None:
    result = cond.summarize(
        _conditions(
            cond.Observation.unknown("A", "Waiting", "not yet"),
            cond.Observation.false("B", "VaultUnavailable", "connection refused"),
        ),
        ["A", "B"],
    )
    assert result.status == c.FALSE
    assert result.reason == "VaultUnavailable"
    assert result.message == "B: connection refused"


def test_summarize_unknown_then_missing() -> None:
    result = cond.summarize(
        _conditions(cond.Observation.unknown("A", "Waiting", "pods")), ["A", "B"]
    )
    assert (result.status, result.reason, result.message) == (c.UNKNOWN, "Waiting", "A: pods")
    result = cond.summarize(_conditions(cond.Observation.true("A", "Ok")), ["A", "B"])
    assert result.status == c.UNKNOWN
    assert result.reason == c.REASON_NOT_OBSERVED
    assert "B" in result.message
