"""shared.placement: node selectors and tolerations from settings."""

import pytest

from shared.placement import PlacementError, pod_placement, toleration


def test_selector_and_tolerations_become_pod_fields() -> None:
    placement = pod_placement(["g8s.io/host=real"], ["g8s.io/real-host:NoSchedule", "a=b"])
    assert placement == {
        "nodeSelector": {"g8s.io/host": "real"},
        "tolerations": [
            {"key": "g8s.io/real-host", "operator": "Exists", "effect": "NoSchedule"},
            {"key": "a", "operator": "Equal", "value": "b"},
        ],
    }


def test_nothing_set_adds_nothing() -> None:
    assert pod_placement([], []) == {}


@pytest.mark.parametrize("entry", [":NoSchedule", "k:Sometimes"])
def test_bad_toleration_is_refused_with_its_text(entry: str) -> None:
    with pytest.raises(PlacementError, match="toleration"):
        toleration(entry)


def test_bad_selector_is_refused() -> None:
    with pytest.raises(PlacementError, match="key=value"):
        pod_placement(["no-equals-sign"], [])
