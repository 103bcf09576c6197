"""Driving real etcd members the way the operator and the kubelet do, for tests and benchmarks.

``converge`` runs what a reconciliation runs against the members - probe,
``policies.next_action``, ``membership.execute`` - and plays the kubelet for
the StatefulSet: it starts the process of a member just added (on an empty
data directory, joining the existing cluster) and stops the process of a
member just removed.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from operators.etcd import membership, policies
from operators.etcd.children import members, statefulset
from operators.etcd.model import EtcdClusterSpec, parse
from shared.backup import FilesystemStore
from shared.etcd import EtcdClient, EtcdError, Member
from tests.integration.etcd.localetcd import BIN, LocalEtcd

TIMEOUT = timedelta(minutes=5)
# Where backups of the guest "demo" of namespace "ns" go in the store.
DIRECTORY = "ns/demo"


def name_of(cluster: LocalEtcd, member: Member) -> str:
    """A member's name; one not started yet is known by its peer URL only."""
    if member.name:
        return member.name
    for name, local in cluster.members.items():
        if local.peer_url in member.peer_urls:
            return name
    return f"unknown-{member.hex_id}"


def ordinal(name: str) -> int | None:
    return int(name[1:]) if name[1:].isdigit() else None


async def observe(
    cluster: LocalEtcd,
    client: EtcdClient,
    *,
    unhealthy: Mapping[str, datetime] | None = None,
    now: datetime | None = None,
) -> membership.Probe:
    return await membership.probe(
        client,
        name_of=lambda m: name_of(cluster, m),
        previously_unhealthy=unhealthy or {},
        now=now or datetime.now(UTC),
    )


async def converge(
    cluster: LocalEtcd,
    desired: int,
    *,
    now: datetime | None = None,
    unhealthy: Mapping[str, datetime] | None = None,
    rounds: int = 200,
    unhealthy_timeout: timedelta = TIMEOUT,
) -> list[policies.Action]:
    """Reconcile until no action is left; returns the actions carried out, in order.

    Asserts after every probe that the voting members kept their quorum.
    """
    done: list[policies.Action] = []
    since = dict(unhealthy or {})

    async def recreate(name: str) -> None:
        cluster.wipe(name)

    async with EtcdClient(cluster.endpoints, timeout=3) as client:
        for _ in range(rounds):
            probe = await observe(cluster, client, unhealthy=since, now=now)
            assert probe.members is not None, probe.error
            voters = [m for m in probe.members if not m.learner]
            healthy = sum(m.healthy for m in voters)
            assert healthy >= policies.quorum(len(voters)), probe
            since = {m.name: m.unhealthy_since for m in probe.members if m.unhealthy_since}
            action = policies.next_action(
                desired,
                probe.members,
                ordinal=ordinal,
                name_for=lambda i: f"m{i}",
                now=now or datetime.now(UTC),
                unhealthy_timeout=unhealthy_timeout,
            )
            if action is None:
                return done
            try:
                result = await membership.execute(
                    action,
                    client,
                    peer_url=lambda n: cluster.member(n).peer_url,
                    recreate=recreate,
                )
            except EtcdError:
                # etcd refuses a new member until every voter has been connected
                # for 5 s; the operator requeues, so does this loop.
                await asyncio.sleep(0.5)
                continue
            if not result.done:
                await asyncio.sleep(0.3)
                continue
            done.append(action)
            names = policies.members_after([m.name for m in probe.members], action)
            peer = cluster.member(action.member).peer_url
            joined = any(peer in m.peer_urls for m in await client.members())
            if action.kind in ("add", "replace") and joined:
                peers = cluster.initial_cluster(names)
                cluster.start(action.member, peers, "existing")
                cluster.wait_running(action.member)
            elif action.kind == "remove":
                cluster.wipe(action.member)
    raise AssertionError(f"no convergence to {desired} members in {rounds} rounds")


def restore_spec() -> EtcdClusterSpec:
    """An EtcdCluster of three members restored from a backup (its StatefulSet's shape)."""
    return parse(
        {
            "metadata": {"name": "demo", "namespace": "ns", "uid": "0123456789abcdef"},
            "spec": {
                "replicas": 3,
                "tls": {
                    "serverSecretName": "demo-etcd-server",
                    "peerSecretName": "demo-etcd-peer",
                    "clientSecretName": "demo-etcd-client",
                },
                "restore": {"location": f"{DIRECTORY}/x.db"},
            },
        }
    )


def _expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion of container env values."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m[1], m[0]), value)


def restore_container(record: Mapping[str, Any]) -> dict[str, Any]:
    """The restore init container the etcd operator builds for ``record``'s backup."""
    source = statefulset.RestoreSource("backups", record["location"], record["checksum"])
    built = statefulset.build(restore_spec(), replicas=3, image="etcd", restore=source)
    return dict(built["spec"]["template"]["spec"]["initContainers"][0])


def run_restore(
    container: Mapping[str, Any], member: str, cluster: LocalEtcd, overrides: Mapping[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run the init container's command as the kubelet would, for pod ``member``."""
    env: dict[str, str] = {"POD_NAME": member}
    for entry in container["env"]:
        if "value" in entry:
            env[entry["name"]] = _expand(entry["value"], env)
    assert env["ETCD_INITIAL_ADVERTISE_PEER_URLS"].startswith(f"https://{member}.demo-etcd-peer.")
    env.update(overrides)
    env["ETCD_INITIAL_ADVERTISE_PEER_URLS"] = cluster.member(member).peer_url
    env["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    return subprocess.run(
        container["command"], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def restore_overrides(
    cluster: LocalEtcd, store: FilesystemStore, record: Mapping[str, Any], work: Path
) -> dict[str, dict[str, str]]:
    """Per member, what points the restore command at this machine: its data
    directory, the members ConfigMap the operator writes (as mounted files) and
    the backup in the store."""
    names = sorted(cluster.members)
    peers = {name: cluster.member(name).peer_url for name in names}
    configmap = members.build(restore_spec(), peers=peers, state="new")
    cluster_dir = work / "cluster"
    cluster_dir.mkdir(exist_ok=True)
    for key, value in configmap["data"].items():
        (cluster_dir / key).write_text(value)
    return {
        name: {
            "ETCD_DATA_DIR": str(cluster.members[name].data_dir),
            "CLUSTER_DIR": str(cluster_dir),
            "SNAPSHOT_FILE": str(store.path(record["location"])),
        }
        for name in names
    }
