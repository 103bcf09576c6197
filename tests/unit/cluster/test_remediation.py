"""Node remediation's rules: when a node is unhealthy, how many may go, the control plane
one at a time, and the NodesHealthy condition each case reports."""

from datetime import UTC, datetime

import pytest

from operators.cluster import remediation
from operators.cluster.model import Remediation, parse
from operators.cluster.policies import NodeState
from operators.cluster.reconcile import node_state
from shared.errors import InvalidSpec
from tests.unit.cluster.helpers import cluster_body

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
POLICY = Remediation(unhealthy_timeout=300, startup_timeout=1800, max_unhealthy="40%")


def node(
    name: str,
    *,
    role: str = "worker",
    ready: bool = True,
    since: str = "2026-01-01T11:00:00Z",
    first_ready: str = "2026-01-01T10:00:00Z",
    created: str = "2026-01-01T09:00:00Z",
    deleting: bool = False,
    unknown: bool = False,
) -> NodeState:
    return NodeState(
        name=name,
        role=role,
        index=0,
        version="1.34.4",
        ready=ready,
        created=created,
        deleting=deleting,
        ready_since=since,
        first_ready=first_ready,
        unknown=unknown,
    )


def test_nodes_the_guest_api_did_not_answer_about_are_not_judged() -> None:
    """The API server restarting (a rotation) is no reason to replace its VM."""
    long_ago = "2026-01-01T11:00:00Z"
    cp = node("cp0", role="controlplane", ready=False, since=long_ago, unknown=True)
    w0 = node("w0", ready=False, since=long_ago, unknown=True)
    verdict = remediation.judge([cp, w0], POLICY, NOW)
    assert (verdict.status, verdict.reason, verdict.replace) == (
        "Unknown",
        "HealthUnknown",
        (),
    )
    assert "cp0, w0" in verdict.message
    # A node known to be unhealthy beside one not judged is still replaced.
    sick = node("w1", ready=False, since=long_ago)
    verdict = remediation.judge([cp, w0, sick, node("w2")], POLICY, NOW)
    assert (verdict.reason, verdict.replace) == ("Remediating", ("w1",))


def test_all_ready_is_healthy() -> None:
    verdict = remediation.judge([node("w0"), node("w1")], POLICY, NOW)
    assert (verdict.status, verdict.reason, verdict.replace) == ("True", "AllHealthy", ())


def test_a_node_not_ready_within_its_timeout_is_waited_for_with_its_moment() -> None:
    verdict = remediation.judge(
        [node("w0", ready=False, since="2026-01-01T11:58:00Z"), node("w1"), node("w2")],
        POLICY,
        NOW,
    )
    assert (verdict.status, verdict.reason, verdict.replace) == ("Unknown", "NodesNotReady", ())
    # The moment, not an age: the message is the same on every pass.
    assert "2026-01-01T12:03:00Z" in verdict.message
    assert verdict.recheck_at == datetime(2026, 1, 1, 12, 3, tzinfo=UTC)


def test_a_node_past_its_timeout_is_replaced() -> None:
    sick = node("w0", ready=False, since="2026-01-01T11:54:59Z")
    verdict = remediation.judge([sick, node("w1"), node("w2")], POLICY, NOW)
    assert (verdict.status, verdict.reason, verdict.replace) == ("False", "Remediating", ("w0",))
    assert "w0 not Ready since 2026-01-01T11:54:59Z" in verdict.message


def test_a_new_node_gets_the_startup_timeout() -> None:
    booting = node("w0", ready=False, since="", first_ready="", created="2026-01-01T11:40:00Z")
    assert remediation.judge([booting, node("w1")], POLICY, NOW).replace == ()
    stuck = node("w0", ready=False, since="", first_ready="", created="2026-01-01T11:29:59Z")
    verdict = remediation.judge([stuck, node("w1")], POLICY, NOW)
    assert verdict.replace == ("w0",)
    assert "since its creation" in verdict.message


def test_too_many_unhealthy_replaces_none() -> None:
    sick = [node(f"w{i}", ready=False, since="2026-01-01T11:00:00Z") for i in range(2)]
    verdict = remediation.judge(
        [*sick, node("w2")], Remediation(max_unhealthy="1", unhealthy_timeout=300), NOW
    )
    assert (verdict.status, verdict.reason, verdict.replace) == ("False", "TooManyUnhealthy", ())
    assert "more than maxUnhealthy 1" in verdict.message


@pytest.mark.parametrize(
    ("limit", "total", "allowed"),
    [("40%", 2, 1), ("40%", 3, 2), ("40%", 10, 4), ("0%", 5, 0), ("100%", 3, 3), ("2", 9, 2)],
)
def test_a_share_rounds_up(limit: str, total: int, allowed: int) -> None:
    assert remediation.allowed(limit, total) == allowed


def test_the_control_plane_goes_one_at_a_time_oldest_first() -> None:
    sick = [
        node("cp1", role="controlplane", ready=False, created="2026-01-01T09:00:02Z"),
        node("cp0", role="controlplane", ready=False, created="2026-01-01T09:00:01Z"),
    ]
    verdict = remediation.judge(
        [*sick, node("cp2", role="controlplane")], Remediation(max_unhealthy="100%"), NOW
    )
    assert verdict.replace == ("cp0",)


def test_a_control_plane_node_waits_while_another_is_starting_or_going() -> None:
    sick = node("cp0", role="controlplane", ready=False)
    starting = node(
        "cp1", role="controlplane", ready=False, first_ready="", since="", created=NOW.isoformat()
    )
    going = node("cp2", role="controlplane", deleting=True)
    for other in (starting, going):
        verdict = remediation.judge(
            [sick, other, node("w0")], Remediation(max_unhealthy="100%"), NOW
        )
        assert (verdict.reason, verdict.replace) == ("RemediationWaiting", ())
        assert other.name in verdict.message


def test_workers_are_replaced_while_the_control_plane_waits() -> None:
    sick_cp = node("cp0", role="controlplane", ready=False)
    going = node("cp1", role="controlplane", deleting=True)
    verdict = remediation.judge(
        [sick_cp, going, node("w0", ready=False), node("w1")],
        Remediation(max_unhealthy="100%"),
        NOW,
    )
    assert verdict.replace == ("w0",)
    assert "cp0 waits for cp1" in verdict.message


def test_disabled_reports_and_replaces_nothing() -> None:
    verdict = remediation.judge(
        [node("w0", ready=False), node("w1")], Remediation(enabled=False), NOW
    )
    assert (verdict.status, verdict.reason, verdict.replace) == ("False", "RemediationDisabled", ())


def test_nodes_being_deleted_are_not_judged() -> None:
    verdict = remediation.judge([node("w0", ready=False, deleting=True), node("w1")], POLICY, NOW)
    assert verdict.reason == "AllHealthy"


def test_the_spec_defaults_and_reads_every_field() -> None:
    assert parse(cluster_body()).remediation == Remediation()
    spec = parse(
        cluster_body(
            remediation={
                "enabled": False,
                "unhealthyTimeout": "90s",
                "startupTimeout": "1h",
                "maxUnhealthy": 3,
            }
        )
    )
    assert spec.remediation == Remediation(False, 90.0, 3600.0, "3")


def test_a_count_may_be_a_string() -> None:
    spec = parse(cluster_body(remediation={"maxUnhealthy": "2"}))
    assert spec.remediation.max_unhealthy == "2"


@pytest.mark.parametrize("limit", ["-1", "x%", "120%", True, 1.5])
def test_a_bad_max_unhealthy_is_named(limit: object) -> None:
    with pytest.raises(InvalidSpec, match=r"spec\.remediation\.maxUnhealthy"):
        parse(cluster_body(remediation={"maxUnhealthy": limit}))


def test_a_node_is_not_ready_since_its_health_could_be_told_again() -> None:
    """Ready stays False through an outage of the guest API; NodeReady goes from
    Unknown to False when it answers again, and the clock starts then."""

    def kvmnode(
        node_ready: str, since: str, reason: str = "GuestNodeNotReady"
    ) -> dict[str, object]:
        return {
            "metadata": {"name": "w0", "creationTimestamp": "2026-01-01T09:00:00Z"},
            "spec": {"role": "worker", "index": 0, "kubernetesVersion": "1.34.4"},
            "status": {
                "firstReadyTime": "2026-01-01T10:00:00Z",
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "False",
                        "lastTransitionTime": "2026-01-01T11:00:00Z",
                    },
                    {
                        "type": "NodeReady",
                        "status": node_ready,
                        "lastTransitionTime": since,
                        "reason": reason,
                    },
                ],
            },
        }

    starting = node_state(kvmnode("False", "2026-01-01T11:00:00Z", "GuestAPINotReady"))
    assert starting.unknown  # the Node is Ready, its API server still starting
    untold = node_state(kvmnode("Unknown", "2026-01-01T11:00:00Z"))
    assert (untold.unknown, untold.ready_since) == (True, "2026-01-01T11:00:00Z")
    told = node_state(kvmnode("False", "2026-01-01T11:58:00Z"))
    assert (told.unknown, told.ready_since) == (False, "2026-01-01T11:58:00Z")
    verdict = remediation.judge([told, node("w1"), node("w2")], POLICY, NOW)
    assert (verdict.reason, verdict.replace) == ("NodesNotReady", ())
