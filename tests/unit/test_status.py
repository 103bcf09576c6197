"""Status computed in one place: observedGeneration, phase and conditions agree."""

from datetime import UTC, datetime

from shared.api import conditions as c
from shared.conditions import Observation, get
from shared.errors import Verdict
from shared.status import Report, failure_report, paused_report, status_patch

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_patch_carries_generation_phase_fields_and_conditions() -> None:
    report = Report(
        phase="Running", observations=(Observation.true(c.READY, "Up"),), fields={"vni": 7}
    )
    patch = status_patch({}, report, generation=4, now=NOW)
    assert patch["observedGeneration"] == 4
    assert patch["phase"] == "Running"
    assert patch["vni"] == 7
    assert patch["conditions"][0]["type"] == c.READY


def test_ready_summarized_when_not_given() -> None:
    report = Report(
        phase="Provisioning",
        observations=(
            Observation.true("EtcdReady", "Up"),
            Observation.false("NetworkReady", "NoVNI", "pool empty"),
        ),
        ready_from=("EtcdReady", "NetworkReady"),
    )
    ready = get(status_patch({}, report, generation=1, now=NOW)["conditions"], c.READY)
    assert ready is not None
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False",
        "NoVNI",
        "NetworkReady: pool empty",
    )


def test_paused_does_not_advance_observed_generation() -> None:
    patch = status_patch(
        {"observedGeneration": 2},
        paused_report("spec.paused is true", "Provisioned"),
        generation=3,
        now=NOW,
        observed=False,
    )
    assert "observedGeneration" not in patch
    paused = get(patch["conditions"], c.PAUSED)
    assert paused is not None
    assert paused["status"] == "True"
    assert patch["phase"] == "Provisioned"


def test_failure_report_phase() -> None:
    retrying = failure_report(
        Verdict(True, 5, "Conflict", "busy"), step="apply", phase="Provisioning"
    )
    assert retrying.phase == "Provisioning"
    assert retrying.observations[0].message == "step apply: busy"
    invalid = failure_report(
        Verdict(False, 0, "InvalidSpec", "spec.ttl: too long"), step=None, phase="Ready"
    )
    assert invalid.phase == "Failed"
    assert invalid.observations[0].reason == "InvalidSpec"
