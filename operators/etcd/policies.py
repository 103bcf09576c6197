"""Pure decisions of the etcd operator: membership, replacement, backups, defragmentation.

Each function looks at what was observed and returns what to do (or None).
Membership changes one member at a time and never when the change could
cost the quorum: a member is added only when every voter is healthy (adding
raises the quorum), added as a learner and promoted once it answers, and a
member is removed (shrinking, or replacing a dead one) only when the healthy
voters left still form a quorum. The membership decision is a chain of small
named rules (``MEMBERSHIP_RULES``), as cert-manager keeps its issuance
policies: the first rule that demands something decides.
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


@dataclass(frozen=True)
class Membership:
    """What the membership rules look at: the members, split once, and the goal."""

    desired: int
    members: Sequence[MemberView]
    ordinal: Callable[[str], int | None]
    name_for: Callable[[int], str]
    now: datetime
    unhealthy_timeout: timedelta

    @property
    def voters(self) -> list[MemberView]:
        return [m for m in self.members if not m.learner]

    @property
    def learner(self) -> MemberView | None:
        return next((m for m in self.members if m.learner), None)

    @property
    def healthy(self) -> list[MemberView]:
        return [m for m in self.voters if m.healthy]

    def stuck(self, member: MemberView) -> bool:
        return unhealthy_too_long(member, self.now, self.unhealthy_timeout)


# A membership rule: the action it demands, or None to let the next rule decide.
Rule = Callable[[Membership], Action | None]


def no_quorum(m: Membership) -> Action | None:
    """Without a healthy quorum no membership change is safe: wait."""
    voters, healthy = m.voters, m.healthy
    if not voters or len(healthy) >= quorum(len(voters)):
        return None
    return Action(
        "wait",
        "",
        None,
        "QuorumLost",
        f"{len(healthy)} of {len(voters)} voting members healthy, "
        f"{quorum(len(voters))} needed: no membership change is safe",
    )


def promote_learner(m: Membership) -> Action | None:
    """A learner that answers has caught up: make it a voter."""
    learner = m.learner
    if learner is None or not learner.healthy:
        return None
    return Action(
        "promote",
        learner.name,
        learner.id,
        "PromotingLearner",
        f"promoting learner {learner.name} to a voting member",
    )


def remove_stuck_learner(m: Membership) -> Action | None:
    """A learner that never started within the timeout goes (a learner is no voter)."""
    learner = m.learner
    if learner is None or not m.stuck(learner):
        return None
    return Action(
        "remove",
        learner.name,
        learner.id,
        "RemovingStuckLearner",
        f"learner {learner.name} did not start within {m.unhealthy_timeout}",
    )


def wait_for_learner(m: Membership) -> Action | None:
    """One learner at a time: nothing else happens while one is catching up."""
    learner = m.learner
    if learner is None:
        return None
    return Action(
        "wait",
        learner.name,
        learner.id,
        "LearnerStarting",
        f"learner {learner.name} is starting and catching up",
    )


def replace_dead_member(m: Membership) -> Action | None:
    """A voter unhealthy past the timeout is replaced, if the others keep a quorum without it."""
    voters = m.voters
    if len(m.healthy) < quorum(len(voters) - 1):
        return None
    for member in sorted(voters, key=lambda v: v.name):
        if m.stuck(member):
            return Action(
                "replace",
                member.name,
                member.id,
                "ReplacingMember",
                f"member {member.name} unhealthy since {member.unhealthy_since}: replacing it",
            )
    return None


def wait_for_unhealthy(m: Membership) -> Action | None:
    """Any other unhealthy voter holds every change (it may be restarting)."""
    sick = [v.name for v in m.voters if not v.healthy]
    if not sick:
        return None
    return Action(
        "wait",
        sick[0],
        None,
        "MemberUnhealthy",
        f"waiting for {', '.join(sick)} before any membership change",
    )


def add_member(m: Membership) -> Action | None:
    """Too few voters: add one, as a learner, at the lowest free ordinal."""
    voters = len(m.voters)
    if voters >= m.desired:
        return None
    used = {m.ordinal(member.name) for member in m.members}
    free = next(i for i in range(len(m.members) + 1) if i not in used)
    name = m.name_for(free)
    return Action(
        "add",
        name,
        None,
        "AddingMember",
        f"adding {name} as a learner ({voters} -> {voters + 1} of {m.desired})",
    )


def remove_member(m: Membership) -> Action | None:
    """Too many voters: remove the highest ordinal (the StatefulSet shrinks from the top)."""
    voters = m.voters
    if len(voters) <= m.desired:
        return None
    victim = max(voters, key=lambda v: (m.ordinal(v.name) or 0, v.name))
    return Action(
        "remove",
        victim.name,
        victim.id,
        "RemovingMember",
        f"removing {victim.name} ({len(voters)} -> {len(voters) - 1} of {m.desired})",
    )


# In priority order: the first rule that demands something decides.
MEMBERSHIP_RULES: tuple[Rule, ...] = (
    no_quorum,
    promote_learner,
    remove_stuck_learner,
    wait_for_learner,
    replace_dead_member,
    wait_for_unhealthy,
    add_member,
    remove_member,
)


def next_action(
    desired: int,
    members: Sequence[MemberView],
    *,
    ordinal: Callable[[str], int | None],
    name_for: Callable[[int], str],
    now: datetime,
    unhealthy_timeout: timedelta,
) -> Action | None:
    """The one membership change to make now, a reason to wait, or None when converged."""
    view = Membership(desired, members, ordinal, name_for, now, unhealthy_timeout)
    for rule in MEMBERSHIP_RULES:
        action = rule(view)
        if action is not None:
            return action
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
