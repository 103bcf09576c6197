"""Observing the members and carrying out one membership action, over the etcd adapter.

No kopf, no Kubernetes client: what is Kubernetes-specific (a member's
name from its peer URL, a new member's peer URL, recreating a member's pod
and volume) comes in as callables, so the integration tests drive the same
code against etcd processes on loopback.
"""

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from operators.etcd.policies import Action, MemberView
from shared.etcd import EtcdClient, EtcdError, Member, MemberStatus, endpoint_of


@dataclass(frozen=True)
class Probe:
    """The members as seen now; ``error`` when the cluster could not be asked at all."""

    members: tuple[MemberView, ...] | None
    leader: str
    error: str = ""
    # Per member: why it counts as unhealthy.
    problems: Mapping[str, str] | None = None
    # Per member: its client endpoint (host:port), once it advertises one.
    endpoints: Mapping[str, str] | None = None


def _health(member: Member, status: MemberStatus | None, failure: str) -> tuple[bool, str]:
    if status is None:
        return False, failure or "no client URL yet (not started)"
    if status.errors:
        return False, "; ".join(status.errors)
    if status.leader_id == 0:
        return False, "no leader known"
    return True, ""


async def _status(client: EtcdClient, member: Member) -> tuple[MemberStatus | None, str]:
    if not member.client_urls:
        return None, ""
    try:
        return await client.status(endpoint_of(member.client_urls[0])), ""
    except EtcdError as exc:
        return None, str(exc)


async def probe(
    client: EtcdClient,
    *,
    name_of: Callable[[Member], str],
    previously_unhealthy: Mapping[str, datetime],
    now: datetime,
) -> Probe:
    """Member list plus each member's own status, in parallel."""
    try:
        members = await client.members()
    except EtcdError as exc:
        # Without a quorum the linearizable list fails; a member's own copy
        # still tells which members there are, so the status can say that the
        # quorum is lost (and membership changes wait) instead of "unreachable".
        try:
            members = await client.members(linearizable=False)
        except EtcdError:
            return Probe(members=None, leader="", error=f"member list failed: {exc}")
    statuses = await asyncio.gather(*(_status(client, m) for m in members))
    views: list[MemberView] = []
    problems: dict[str, str] = {}
    leader_ids = {s.leader_id for s, _ in statuses if s is not None and s.leader_id}
    leader_id = next(iter(leader_ids)) if len(leader_ids) == 1 else 0
    leader = ""
    endpoints: dict[str, str] = {}
    for member, (status, failure) in zip(members, statuses, strict=True):
        name = name_of(member)
        healthy, problem = _health(member, status, failure)
        if not healthy:
            problems[name] = problem
        if member.id == leader_id:
            leader = name
        if member.client_urls:
            endpoints[name] = endpoint_of(member.client_urls[0])
        views.append(
            MemberView(
                name=name,
                id=member.id,
                learner=member.learner,
                healthy=healthy,
                leader=member.id == leader_id,
                unhealthy_since=None if healthy else previously_unhealthy.get(name, now),
            )
        )
    return Probe(
        members=tuple(sorted(views, key=lambda v: v.name)),
        leader=leader,
        problems=problems,
        endpoints=endpoints,
    )


@dataclass(frozen=True)
class Result:
    """What an action did; ``done`` is False when it has to be tried again later."""

    done: bool
    message: str


async def execute(  # noqa: PLR0911 - one return per kind of action
    action: Action,
    client: EtcdClient,
    *,
    peer_url: Callable[[str], str],
    recreate: Callable[[str], Awaitable[None]],
) -> Result:
    """Carry out ``action``; ``recreate(name)`` wipes a member's pod and volume."""
    if action.kind == "wait":
        return Result(False, action.message)
    if action.kind == "add":
        added = await client.add_learner([peer_url(action.member)])
        return Result(True, f"added {action.member} as learner {added.hex_id}")
    assert action.member_id is not None, action
    if action.kind == "promote":
        try:
            await client.promote(action.member_id)
        except EtcdError as exc:
            if exc.learner_not_ready:
                return Result(False, f"learner {action.member} is still catching up")
            raise
        return Result(True, f"promoted {action.member}")
    if action.kind == "remove":
        await client.remove(action.member_id)
        return Result(True, f"removed {action.member}")
    # replace: out of the membership, fresh volume, back in as a learner.
    await client.remove(action.member_id)
    await recreate(action.member)
    try:
        added = await client.add_learner([peer_url(action.member)])
    except EtcdError as exc:
        # etcd may refuse a member right after a removal; the member is out
        # and its volume gone, so the next reconciliation adds it back.
        return Result(True, f"removed and recreated {action.member}; adding it back: {exc}")
    return Result(True, f"replaced {action.member} (new learner {added.hex_id})")


def learners_unstarted(members: Sequence[MemberView]) -> list[str]:
    return [m.name for m in members if m.learner and not m.healthy]
