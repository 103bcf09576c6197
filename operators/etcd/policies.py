"""Pure decisions of the etcd operator: membership, replacement, backups, defragmentation.

Each function looks at what was observed and returns what to do (or None).
Membership changes one member at a time and never when the change could
cost the quorum: a member is added only when every voter is healthy (adding
raises the quorum), added as a learner and promoted once it answers, and a
member is removed (shrinking, or replacing a dead one) only when the healthy
voters left still form a quorum.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from operators.etcd.cron import Schedule

ActionKind = Literal["add", "promote", "remove", "replace", "wait"]


@dataclass(frozen=True)
class MemberView:
    """One etcd member as the operator saw it in this reconciliation."""

    name: str
    id: int
    learner: bool
    healthy: bool
    leader: bool = False
    # When it was first seen unhealthy (kept in status across reconciliations).
    unhealthy_since: datetime | None = None


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    member: str
    member_id: int | None
    reason: str
    message: str


def quorum(voters: int) -> int:
    return voters // 2 + 1


def unhealthy_too_long(member: MemberView, now: datetime, timeout: timedelta) -> bool:
    return (
        not member.healthy
        and member.unhealthy_since is not None
        and now - member.unhealthy_since >= timeout
    )


def next_action(  # noqa: PLR0911 - one return per decision, in order of priority
    desired: int,
    members: Sequence[MemberView],
    *,
    ordinal: Callable[[str], int | None],
    name_for: Callable[[int], str],
    now: datetime,
    unhealthy_timeout: timedelta,
) -> Action | None:
    """The one membership change to make now, a reason to wait, or None when converged."""
    voters = [m for m in members if not m.learner]
    learners = [m for m in members if m.learner]
    healthy = [m for m in voters if m.healthy]
    if voters and len(healthy) < quorum(len(voters)):
        return Action(
            "wait",
            "",
            None,
            "NoQuorum",
            f"{len(healthy)} of {len(voters)} voting members healthy, "
            f"{quorum(len(voters))} needed: no membership change is safe",
        )
    if learners:
        learner = learners[0]
        if learner.healthy:
            return Action(
                "promote",
                learner.name,
                learner.id,
                "PromotingLearner",
                f"promoting learner {learner.name} to a voting member",
            )
        if unhealthy_too_long(learner, now, unhealthy_timeout):
            return Action(
                "remove",
                learner.name,
                learner.id,
                "RemovingStuckLearner",
                f"learner {learner.name} did not start within {unhealthy_timeout}",
            )
        return Action(
            "wait",
            learner.name,
            learner.id,
            "LearnerStarting",
            f"learner {learner.name} is starting and catching up",
        )
    for member in sorted(voters, key=lambda m: m.name):
        if unhealthy_too_long(member, now, unhealthy_timeout) and len(healthy) >= quorum(
            len(voters) - 1
        ):
            return Action(
                "replace",
                member.name,
                member.id,
                "ReplacingMember",
                f"member {member.name} unhealthy since {member.unhealthy_since}: replacing it",
            )
    sick = [m.name for m in voters if not m.healthy]
    if sick:
        return Action(
            "wait",
            sick[0],
            None,
            "MemberUnhealthy",
            f"waiting for {', '.join(sick)} before any membership change",
        )
    if len(voters) < desired:
        used = {ordinal(m.name) for m in members}
        free = next(i for i in range(len(members) + 1) if i not in used)
        name = name_for(free)
        return Action(
            "add",
            name,
            None,
            "AddingMember",
            f"adding {name} as a learner ({len(voters)} -> {len(voters) + 1} of {desired})",
        )
    if len(voters) > desired:
        victim = max(voters, key=lambda m: (ordinal(m.name) or 0, m.name))
        return Action(
            "remove",
            victim.name,
            victim.id,
            "RemovingMember",
            f"removing {victim.name} ({len(voters)} -> {len(voters) - 1} of {desired})",
        )
    return None


def statefulset_replicas(
    members: Sequence[str] | None,
    *,
    ordinal: Callable[[str], int | None],
    current: int | None,
    desired: int,
    bootstrapped: bool,
) -> int:
    """How many pods the StatefulSet must run: one per member, by ordinal.

    Before the cluster exists it is the desired size (all members bootstrap
    together). Afterwards it follows the membership (so a pod exists for a
    learner just added and goes away after its member was removed), and
    when the membership is unknown the current size is kept: shrinking
    blindly could delete a live member's data.
    """
    fallback = current if current is not None else desired
    if not bootstrapped:
        return desired
    if not members:
        return fallback
    ordinals = [o for o in (ordinal(name) for name in members) if o is not None]
    return max(ordinals) + 1 if ordinals else fallback


def members_after(members: Sequence[str], action: Action | None) -> list[str]:
    """The member names once ``action`` is carried out (replacing keeps the name)."""
    names = list(members)
    if action is None:
        return names
    if action.kind == "add" and action.member not in names:
        names.append(action.member)
    elif action.kind == "remove":
        names = [name for name in names if name != action.member]
    return sorted(names)


def due(schedule: Schedule | None, last: datetime | None, since: datetime, now: datetime) -> bool:
    """Whether a scheduled job is due: its next firing after the last run (or ``since``) passed."""
    if schedule is None:
        return False
    return schedule.next_after(last or since) <= now


def backup_requested(request: str, handled: str) -> bool:
    """``g8s.io/backup-now`` asks for a backup each time its value changes."""
    return bool(request) and request != handled


def to_prune(names: Sequence[str], keep: int) -> list[str]:
    """The backups beyond the newest ``keep`` (names sort by time), oldest first."""
    ordered = sorted(names)
    return ordered[: max(0, len(ordered) - keep)]


def defragment_order(members: Sequence[MemberView]) -> list[str]:
    """Healthy members one at a time, the leader last (defragmenting it stalls writes)."""
    healthy = [m for m in members if m.healthy]
    return [m.name for m in sorted(healthy, key=lambda m: (m.leader, m.name))]
