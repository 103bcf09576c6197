"""Pure decisions: next membership change, StatefulSet size, schedules, retention, defrag."""

from datetime import UTC, datetime, timedelta

from operators.etcd import cron, policies
from operators.etcd.policies import Action, MemberView

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
TIMEOUT = timedelta(minutes=5)


def m(
    name: str,
    *,
    learner: bool = False,
    healthy: bool = True,
    since: timedelta | None = None,
    leader: bool = False,
) -> MemberView:
    return MemberView(
        name=name,
        id=int(name[1:]) + 100,
        learner=learner,
        healthy=healthy,
        leader=leader,
        unhealthy_since=None if since is None else NOW - since,
    )


def ordinal(name: str) -> int | None:
    return int(name[1:]) if name[1:].isdigit() else None


def name_for(index: int) -> str:
    return f"m{index}"


def view(desired: int, *members: MemberView) -> policies.Membership:
    """What the rules see; ``decide`` gives the same to the whole chain."""
    return policies.Membership(desired, members, ordinal, name_for, NOW, TIMEOUT)


def decide(desired: int, *members: MemberView) -> Action | None:
    return policies.next_action(
        desired,
        members,
        ordinal=ordinal,
        name_for=name_for,
        now=NOW,
        unhealthy_timeout=TIMEOUT,
    )


def kind(action: Action | None) -> tuple[str, str] | None:
    return None if action is None else (action.kind, action.member)


# Each membership rule alone: what it demands, and when it lets the next rule decide.


def test_rule_no_quorum() -> None:
    assert kind(
        policies.no_quorum(view(3, m("m0"), m("m1", healthy=False), m("m2", healthy=False)))
    ) == ("wait", "")
    assert policies.no_quorum(view(3, m("m0"), m("m1"), m("m2", healthy=False))) is None
    assert policies.no_quorum(view(1)) is None


def test_rule_promote_learner() -> None:
    assert kind(policies.promote_learner(view(2, m("m0"), m("m1", learner=True)))) == (
        "promote",
        "m1",
    )
    assert policies.promote_learner(view(2, m("m0"), m("m1", learner=True, healthy=False))) is None
    assert policies.promote_learner(view(2, m("m0"))) is None


def test_rule_remove_stuck_learner() -> None:
    stuck = m("m1", learner=True, healthy=False, since=TIMEOUT)
    starting = m("m1", learner=True, healthy=False, since=TIMEOUT / 2)
    assert kind(policies.remove_stuck_learner(view(2, m("m0"), stuck))) == ("remove", "m1")
    assert policies.remove_stuck_learner(view(2, m("m0"), starting)) is None


def test_rule_wait_for_learner() -> None:
    starting = m("m1", learner=True, healthy=False)
    assert kind(policies.wait_for_learner(view(2, m("m0"), starting))) == ("wait", "m1")
    assert policies.wait_for_learner(view(2, m("m0"))) is None


def test_rule_replace_dead_member() -> None:
    dead = m("m2", healthy=False, since=TIMEOUT)
    assert kind(policies.replace_dead_member(view(3, m("m0"), m("m1"), dead))) == ("replace", "m2")
    recent = m("m2", healthy=False, since=TIMEOUT / 2)
    assert policies.replace_dead_member(view(3, m("m0"), m("m1"), recent)) is None
    # Replacing m2 would leave one healthy voter of two: not a quorum.
    other = m("m1", healthy=False)
    assert policies.replace_dead_member(view(3, m("m0"), other, dead)) is None


def test_rule_wait_for_unhealthy() -> None:
    assert kind(policies.wait_for_unhealthy(view(3, m("m0"), m("m1", healthy=False)))) == (
        "wait",
        "m1",
    )
    assert policies.wait_for_unhealthy(view(3, m("m0"), m("m1"))) is None


def test_rule_add_member() -> None:
    assert kind(policies.add_member(view(3, m("m0"), m("m2")))) == ("add", "m1")
    assert policies.add_member(view(2, m("m0"), m("m1"))) is None


def test_rule_remove_member() -> None:
    assert kind(policies.remove_member(view(1, m("m0"), m("m1"), m("m2")))) == ("remove", "m2")
    assert policies.remove_member(view(3, m("m0"), m("m1"), m("m2"))) is None


def test_rules_run_in_priority_order() -> None:
    assert policies.MEMBERSHIP_RULES[0] is policies.no_quorum
    assert policies.MEMBERSHIP_RULES[-2:] == (policies.add_member, policies.remove_member)


def test_quorum() -> None:
    assert [policies.quorum(n) for n in range(1, 6)] == [1, 2, 2, 3, 3]


def test_converged_is_none() -> None:
    assert decide(3, m("m0"), m("m1"), m("m2")) is None


def test_scale_up_adds_one_learner_at_a_time() -> None:
    assert kind(decide(3, m("m0"))) == ("add", "m1")
    assert kind(decide(3, m("m0"), m("m1", learner=True, healthy=False))) == ("wait", "m1")
    assert kind(decide(3, m("m0"), m("m1", learner=True))) == ("promote", "m1")
    assert kind(decide(3, m("m0"), m("m1"))) == ("add", "m2")


def test_scale_up_fills_the_lowest_free_ordinal() -> None:
    assert kind(decide(3, m("m0"), m("m2"))) == ("add", "m1")


def test_scale_down_removes_the_highest_ordinal_one_at_a_time() -> None:
    five = [m(f"m{i}") for i in range(5)]
    assert kind(decide(3, *five)) == ("remove", "m4")
    assert kind(decide(3, *five[:4])) == ("remove", "m3")
    assert kind(decide(1, *five[:3])) == ("remove", "m2")


def test_no_resize_while_a_member_is_unhealthy() -> None:
    action = decide(5, m("m0"), m("m1"), m("m2", healthy=False, since=timedelta(seconds=30)))
    assert action is not None
    assert (action.kind, action.reason) == ("wait", "MemberUnhealthy")
    action = decide(1, m("m0"), m("m1"), m("m2", healthy=False, since=timedelta(seconds=30)))
    assert action is not None
    assert action.kind == "wait"


def test_unhealthy_beyond_the_timeout_is_replaced() -> None:
    sick = m("m1", healthy=False, since=TIMEOUT + timedelta(seconds=1))
    action = decide(3, m("m0"), sick, m("m2"))
    assert kind(action) == ("replace", "m1")
    assert action is not None
    assert action.member_id == 101


def test_no_change_without_quorum() -> None:
    long = TIMEOUT * 2
    action = decide(
        3, m("m0"), m("m1", healthy=False, since=long), m("m2", healthy=False, since=long)
    )
    assert action is not None
    assert (action.kind, action.reason) == ("wait", "QuorumLost")


def test_replacement_never_breaks_quorum_of_five() -> None:
    long = TIMEOUT * 2
    members = [m("m0"), m("m1"), m("m2"), m("m3", healthy=False, since=long)]
    members.append(m("m4", healthy=False, since=long))
    # 3 healthy of 5: removing one leaves 4 voters needing 3: allowed.
    assert kind(decide(5, *members)) == ("replace", "m3")


def test_stuck_learner_is_removed() -> None:
    stuck = m("m2", learner=True, healthy=False, since=TIMEOUT * 2)
    assert kind(decide(3, m("m0"), m("m1"), stuck)) == ("remove", "m2")


def test_statefulset_replicas() -> None:
    ordinal = lambda name: int(name[1:])  # noqa: E731
    assert (
        policies.statefulset_replicas(
            None, ordinal=ordinal, current=None, desired=3, bootstrapped=False
        )
        == 3
    )
    assert (
        policies.statefulset_replicas(
            ["m0", "m1", "m2", "m3"], ordinal=ordinal, current=3, desired=5, bootstrapped=True
        )
        == 4
    )
    # Unknown membership: keep the current size, never shrink blindly.
    assert (
        policies.statefulset_replicas(
            None, ordinal=ordinal, current=5, desired=3, bootstrapped=True
        )
        == 5
    )


def test_members_after() -> None:
    add = Action("add", "m3", None, "AddingMember", "")
    remove = Action("remove", "m2", 102, "RemovingMember", "")
    replace = Action("replace", "m1", 101, "ReplacingMember", "")
    assert policies.members_after(["m0", "m1", "m2"], add) == ["m0", "m1", "m2", "m3"]
    assert policies.members_after(["m0", "m1", "m2"], remove) == ["m0", "m1"]
    assert policies.members_after(["m0", "m1", "m2"], replace) == ["m0", "m1", "m2"]


def test_schedule_due() -> None:
    every_six = cron.parse("0 */6 * * *")
    created = datetime(2026, 5, 1, 1, tzinfo=UTC)
    assert not policies.due(every_six, None, created, datetime(2026, 5, 1, 5, 59, tzinfo=UTC))
    assert policies.due(every_six, None, created, datetime(2026, 5, 1, 6, tzinfo=UTC))
    last = datetime(2026, 5, 1, 6, tzinfo=UTC)
    assert not policies.due(every_six, last, created, datetime(2026, 5, 1, 11, tzinfo=UTC))
    assert policies.due(every_six, last, created, datetime(2026, 5, 1, 13, tzinfo=UTC))
    assert not policies.due(None, None, created, NOW)


def test_backup_requested_once_per_annotation_value() -> None:
    assert policies.backup_requested("v1", "")
    assert not policies.backup_requested("v1", "v1")
    assert policies.backup_requested("v2", "v1")
    assert not policies.backup_requested("", "v1")


def test_retention() -> None:
    names = ["20260501T060000Z", "20260501T000000Z", "20260501T120000Z", "20260501T180000Z"]
    assert policies.to_prune(names, 2) == ["20260501T000000Z", "20260501T060000Z"]
    assert policies.to_prune(names, 4) == []
    assert policies.to_prune(names, 10) == []


def test_defragment_order_leader_last_skips_unhealthy() -> None:
    members = [m("m0", leader=True), m("m1"), m("m2", healthy=False), m("m3")]
    assert policies.defragment_order(members) == ["m1", "m3", "m0"]
