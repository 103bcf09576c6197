"""The health timer runs only while NodesHealthy says a node is not Ready."""

from typing import Any

import pytest

from operators.cluster.handlers import nodes_unhealthy


def _body(status: str | None, deleting: bool = False) -> dict[str, Any]:
    conditions = [{"type": "Ready", "status": "True"}]
    if status is not None:
        conditions.append({"type": "NodesHealthy", "status": status})
    meta: dict[str, Any] = {"name": "c", "namespace": "ns"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "status": {"conditions": conditions}}


@pytest.mark.parametrize(
    ("status", "deleting", "runs"),
    [
        (None, False, False),
        ("True", False, False),
        ("Unknown", False, True),
        ("False", False, True),
        ("False", True, False),
    ],
)
def test_the_timer_runs_only_while_a_node_is_not_ready(
    status: str | None, deleting: bool, runs: bool
) -> None:
    assert nodes_unhealthy(_body(status, deleting)) is runs
