"""Membership against a real 3-member etcd cluster on loopback.

Covers: health and leader detection through the v3 API; scaling 3 -> 5 -> 3
one member at a time (each added as a learner, promoted once it runs,
removed from the top) with every key intact on every member; a killed
member detected as unhealthy and, past the timeout, replaced by a fresh
learner that gets all the data back.
"""

import asyncio
from datetime import UTC, datetime, timedelta

from operators.etcd import policies
from shared.etcd import EtcdClient
from tests.integration.etcd.conftest import TIMEOUT, converge, observe
from tests.integration.etcd.localetcd import LocalEtcd

KEYS = {f"/registry/k{i:04d}".encode(): f"value-{i}".encode() * 8 for i in range(300)}


async def _write_keys(client: EtcdClient) -> None:
    for key, value in KEYS.items():
        await client.put(key, value)


async def _keys_on_every_member(cluster: LocalEtcd) -> None:
    for name in cluster.members:
        member = cluster.members[name]
        if not member.running:
            continue
        async with EtcdClient([member.endpoint]) as one:
            found = await one.get_prefix(b"/registry/")
        assert found == KEYS, f"{name} lacks {len(KEYS) - len(found)} keys"


def test_health_and_leader(local_etcd: LocalEtcd) -> None:
    async def run() -> None:
        async with EtcdClient(local_etcd.endpoints) as client:
            probe = await observe(local_etcd, client)
            assert probe.members is not None
            assert [m.name for m in probe.members] == ["m0", "m1", "m2"]
            assert all(m.healthy and not m.learner for m in probe.members)
            leaders = [m.name for m in probe.members if m.leader]
            assert leaders == [probe.leader]
            statuses = [await client.status(m.endpoint) for m in local_etcd.members.values()]
            assert {s.leader_id for s in statuses} == {
                next(m.id for m in probe.members if m.leader)
            }

    asyncio.run(run())


def test_scale_up_to_five_and_back_keeps_data(local_etcd: LocalEtcd) -> None:
    async def run() -> None:
        async with EtcdClient(local_etcd.endpoints) as client:
            await _write_keys(client)
        grown = await converge(local_etcd, 5)
        assert [(a.kind, a.member) for a in grown] == [
            ("add", "m3"),
            ("promote", "m3"),
            ("add", "m4"),
            ("promote", "m4"),
        ]
        async with EtcdClient(local_etcd.endpoints) as client:
            probe = await observe(local_etcd, client)
        assert probe.members is not None
        assert len([m for m in probe.members if not m.learner and m.healthy]) == 5
        await _keys_on_every_member(local_etcd)

        shrunk = await converge(local_etcd, 3)
        assert [(a.kind, a.member) for a in shrunk] == [("remove", "m4"), ("remove", "m3")]
        async with EtcdClient(local_etcd.endpoints) as client:
            probe = await observe(local_etcd, client)
        assert probe.members is not None
        assert [m.name for m in probe.members] == ["m0", "m1", "m2"]
        await _keys_on_every_member(local_etcd)

    asyncio.run(run())


def test_killed_member_is_detected_and_replaced(local_etcd: LocalEtcd) -> None:
    async def run() -> None:
        async with EtcdClient(local_etcd.endpoints) as client:
            await _write_keys(client)
        leader = await _leader(local_etcd)
        victim = next(n for n in ("m0", "m1", "m2") if n != leader)
        local_etcd.kill(victim)
        detected_at = datetime.now(UTC)
        async with EtcdClient(local_etcd.endpoints, timeout=2) as client:
            probe = await observe(local_etcd, client, now=detected_at)
        assert probe.members is not None
        sick = [m for m in probe.members if not m.healthy]
        assert [m.name for m in sick] == [victim]
        assert sick[0].unhealthy_since == detected_at
        # Within the timeout: wait, do not touch the membership.
        early = policies.next_action(
            3, probe.members, ordinal=lambda n: int(n[1:]), name_for=lambda i: f"m{i}",
            now=detected_at + TIMEOUT / 2, unhealthy_timeout=TIMEOUT,
        )  # fmt: skip
        assert early is not None
        assert (early.kind, early.reason) == ("wait", "MemberUnhealthy")

        later = detected_at + TIMEOUT + timedelta(seconds=1)
        actions = await converge(local_etcd, 3, now=later, unhealthy={victim: detected_at})
        # Replace (out, fresh volume, back in as a learner), then promote; when
        # etcd refused the learner right after the removal, an add comes between.
        assert (actions[0].kind, actions[-1].kind) == ("replace", "promote")
        assert {a.member for a in actions} == {victim}
        assert [a.kind for a in actions] in (["replace", "promote"], ["replace", "add", "promote"])
        local_etcd.wait_healthy(victim)
        await _keys_on_every_member(local_etcd)

    asyncio.run(run())


async def _leader(cluster: LocalEtcd) -> str:
    async with EtcdClient(cluster.endpoints) as client:
        probe = await observe(cluster, client)
    return probe.leader
