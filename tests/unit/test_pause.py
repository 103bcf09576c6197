"""Pause handling: annotations on any object, spec.paused on a Cluster."""

import pytest

from shared.pause import pause_reason


@pytest.mark.parametrize(
    ("annotations", "spec", "paused"),
    [
        ({}, None, False),
        ({"g8s.io/paused": "true"}, None, True),
        ({"g8s.io/paused": "True "}, None, True),
        ({"g8s.io/paused": "false"}, None, False),
        ({"cluster.x-k8s.io/paused": ""}, None, True),
        ({}, {"paused": True}, True),
        ({}, {"paused": False}, False),
    ],
)
def test_pause_reason(
    annotations: dict[str, str], spec: dict[str, bool] | None, paused: bool
) -> None:
    reason = pause_reason({"annotations": annotations}, spec)
    assert (reason is not None) == paused


def test_reason_says_which_source() -> None:
    assert pause_reason({"annotations": {"cluster.x-k8s.io/paused": "x"}}) == (
        "annotation cluster.x-k8s.io/paused is set"
    )
    assert pause_reason({}, {"paused": True}) == "spec.paused is true"
