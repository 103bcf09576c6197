"""Guest etcd faults, on a real 3-member etcd on loopback driven by the etcd operator's code.

The etcd operator's membership logic (``membership.probe``,
``policies.next_action``, ``membership.execute``) runs as in a reconcile; the
test plays the kubelet (tests/integration/etcd/driver.py). Three faults:

1. one member's data directory is lost (its process gone with it): the
   operator finds it unhealthy, waits out its timeout, then replaces it (out,
   fresh volume, back in as a learner, promoted) and every key is on every
   member again;
2. quorum lost (2 of 3 members gone): the probe still lists the members (a
   member's own, non-linearizable copy), the members are reported
   ``QuorumLost``, and the operator changes nothing however long it lasts: a
   membership change without a quorum would make it worse;
3. the documented way back: restore every member from the latest backup
   with the restore init container's own command (what a Cluster created
   with ``spec.etcd.restoreFrom`` runs); every key of the backup is back.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from operators.etcd import policies, reconcile
from shared.backup import FilesystemStore, backup_name
from shared.etcd import EtcdClient
from tests.integration.etcd.driver import (
    DIRECTORY,
    TIMEOUT,
    converge,
    observe,
    ordinal,
    restore_container,
    restore_overrides,
    run_restore,
)
from tests.integration.etcd.localetcd import LocalEtcd, bootstrapped
from tests.reliability.faults import Summary

NAMES = ["m0", "m1", "m2"]
KEYS = {f"/registry/secrets/s{i:04d}".encode(): os.urandom(48) for i in range(300)}


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[LocalEtcd]:
    yield from bootstrapped(tmp_path / "etcd", NAMES)


async def missing_keys(cluster: LocalEtcd, name: str) -> list[str]:
    async with EtcdClient([cluster.members[name].endpoint]) as one:
        found = await one.get_prefix(b"/registry/")
    return [key.decode() for key, value in KEYS.items() if found.get(key) != value]


async def leader_of(cluster: LocalEtcd) -> str:
    async with EtcdClient(cluster.endpoints) as client:
        return (await observe(cluster, client)).leader


def test_guest_etcd_faults(etcd: LocalEtcd, tmp_path: Path) -> None:
    summary = Summary("guest-etcd-faults", clusters=1)
    store = FilesystemStore(tmp_path / "backups")

    async def scenario() -> None:
        async with EtcdClient(etcd.endpoints) as client:
            for key, value in KEYS.items():
                await client.put(key, value)

        # 1. A member's data directory is lost.
        leader = await leader_of(etcd)
        victim = next(n for n in NAMES if n != leader)
        etcd.wipe(victim)  # stops it first: a pod whose volume is gone
        summary.faults += 1
        lost_at = datetime.now(UTC)
        actions = await converge(
            etcd, 3, now=lost_at + TIMEOUT + timedelta(seconds=1), unhealthy={victim: lost_at}
        )
        assert actions[0].kind == "replace", actions
        assert {a.member for a in actions} == {victim}
        etcd.wait_healthy(victim)
        for name in NAMES:
            summary.lost += [f"{name}:{key}" for key in await missing_keys(etcd, name)]

        # The backup the operator's backup step takes, before the next fault.
        record = await asyncio.to_thread(
            reconcile.take_backup,
            store,
            DIRECTORY,
            name=backup_name(datetime.now(UTC)),
            endpoint=etcd.members[NAMES[0]].endpoint,
            tls=None,
            keep=7,
            timeout=10,
        )

        # 2. Quorum lost: two of three members gone.
        survivor, *gone = NAMES
        for name in gone:
            etcd.kill(name)
            summary.faults += 1
        since = datetime.now(UTC)
        async with EtcdClient([etcd.members[survivor].endpoint], timeout=2) as client:
            probe = await observe(etcd, client, now=since)
            listed = await client.members(linearizable=False)
        assert probe.members is not None, probe.error
        assert sorted(m.name for m in probe.members) == NAMES
        assert not any(m.healthy for m in probe.members if m.name in gone)
        # Long past the unhealthy timeout: still no membership change.
        much_later = since + 10 * TIMEOUT
        action = policies.next_action(
            3,
            probe.members,
            ordinal=ordinal,
            name_for=lambda i: f"m{i}",
            now=much_later,
            unhealthy_timeout=TIMEOUT,
        )
        assert action is not None
        assert (action.kind, action.reason) == ("wait", "QuorumLost"), action
        assert len(listed) == 3, "no member was added or removed"

        # 3. Back from the latest backup, every member restored.
        for name in NAMES:
            etcd.wipe(name)
        container = restore_container(record)
        overrides = restore_overrides(etcd, store, record, tmp_path)
        for name in NAMES:
            result = run_restore(container, name, etcd, overrides[name])
            assert result.returncode == 0, result.stderr
        for name in NAMES:
            etcd.start_existing(name)
        for name in NAMES:
            etcd.wait_healthy(name)
        for name in NAMES:
            summary.lost += [f"{name}:{key}" for key in await missing_keys(etcd, name)]
        async with EtcdClient(etcd.endpoints) as client:
            after = await client.members()
        if len(after) != len(NAMES):
            summary.leaked.append(f"members after restore: {len(after)}")
        summary.converged += 1

    asyncio.run(scenario())
    summary.check()
