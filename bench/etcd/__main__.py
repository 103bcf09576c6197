"""Benchmark of the etcd operator's data paths on real etcd processes: ``python -m bench.etcd``.

Prints figures, asserts nothing about time:

- snapshot throughput: ``--mb`` MB of keys (default 100) written into a
  3-member cluster on loopback, then streamed through the operator's backup
  path (``reconcile.take_backup``: v3 API snapshot -> filesystem store);
- restore throughput: the restore init container's own script (etcdutl
  snapshot restore) into a fresh data directory, then every key counted;
- a member's death: time from SIGKILL to the probe reporting it unhealthy,
  and to its replacement (removed, volume wiped, re-added as a learner,
  promoted) being a healthy voter again, replaced as soon as seen.
  In the operator the detection also waits for the next reconciliation
  (``G8S_ETCD_INTERVAL``, 60 s by default) and the replacement for
  ``G8S_ETCD_UNHEALTHY_TIMEOUT`` (300 s): those are settings, not costs.
"""

import argparse
import asyncio
import os
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from operators.etcd import reconcile
from operators.etcd.children import members, statefulset
from operators.etcd.model import parse
from shared.backup import FilesystemStore, backup_name
from shared.etcd import EtcdClient
from tests.integration.etcd.driver import converge, observe
from tests.integration.etcd.localetcd import BIN, LocalEtcd

NAMES = ["m0", "m1", "m2"]
VALUE_SIZE = 4096
BATCH = 64
MB = 1 << 20


async def fill(cluster: LocalEtcd, megabytes: int) -> tuple[int, float]:
    count = megabytes * MB // VALUE_SIZE
    value = os.urandom(VALUE_SIZE)
    started = time.perf_counter()
    async with EtcdClient(cluster.endpoints, timeout=30) as client:
        for first in range(0, count, BATCH):
            keys = range(first, min(count, first + BATCH))
            await asyncio.gather(*(client.put(f"/bench/{k:08d}".encode(), value) for k in keys))
    return count, time.perf_counter() - started


def restore(cluster: LocalEtcd, root: Path, snapshot: Path, checksum: str) -> float:
    """Run the init container's command for member m0 into a fresh directory."""
    spec = parse(
        {
            "metadata": {"name": "bench", "namespace": "ns", "uid": "0" * 8},
            "spec": {
                "tls": {
                    "serverSecretName": "s",
                    "peerSecretName": "p",
                    "clientSecretName": "c",
                }
            },
        }
    )
    source = statefulset.RestoreSource("backups", "x", checksum)
    container = statefulset.restore_container(spec, "etcd", source)
    cluster_dir = root / "cluster"
    cluster_dir.mkdir(exist_ok=True)
    target = cluster.member("r0")
    data = members.build(spec, peers={"r0": target.peer_url}, state="new")["data"]
    for key, text in data.items():
        (cluster_dir / key).write_text(text)
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    env.update(
        POD_NAME="r0",
        ETCD_DATA_DIR=str(target.data_dir),
        CLUSTER_DIR=str(cluster_dir),
        SNAPSHOT_FILE=str(snapshot),
        ETCD_INITIAL_ADVERTISE_PEER_URLS=target.peer_url,
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    started = time.perf_counter()
    subprocess.run(container["command"], env=env, check=True, capture_output=True, timeout=600)
    return time.perf_counter() - started


async def death(cluster: LocalEtcd) -> tuple[float, float, float]:
    async with EtcdClient(cluster.endpoints, timeout=2) as client:
        leader = (await observe(cluster, client)).leader
        victim = next(n for n in NAMES if n != leader)
        cluster.kill(victim)
        killed = time.perf_counter()
        while True:
            probe_started = time.perf_counter()
            probe = await observe(cluster, client)
            probe_time = time.perf_counter() - probe_started
            if probe.members and any(m.name == victim and not m.healthy for m in probe.members):
                break
            await asyncio.sleep(0.05)
        detected = time.perf_counter() - killed
    # Unhealthy "for" the whole timeout already: replaced at once, while a
    # learner still gets the timeout to start.
    grace = timedelta(seconds=5)
    since = datetime.now(UTC) - grace
    await converge(cluster, 3, unhealthy={victim: since}, unhealthy_timeout=grace)
    cluster.wait_healthy(victim, timeout=120)
    return detected, probe_time, time.perf_counter() - killed


async def main(megabytes: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-etcd-") as tmp:
        root = Path(tmp)
        cluster = LocalEtcd(root / "etcd")
        try:
            cluster.bootstrap(NAMES)
            count, wrote = await fill(cluster, megabytes)
            print(
                f"fill: {count} keys x {VALUE_SIZE} B = {megabytes} MB in {wrote:.1f} s "
                f"({megabytes / wrote:.1f} MB/s, {count / wrote:.0f} puts/s)"
            )

            store = FilesystemStore(root / "backups")
            started = time.perf_counter()
            record = await asyncio.to_thread(
                reconcile.take_backup,
                store,
                "ns/bench",
                name=backup_name(datetime.now(UTC)),
                endpoint=cluster.members["m1"].endpoint,
                tls=None,
                keep=3,
                timeout=30,
            )
            took = time.perf_counter() - started
            size = record["size"] / MB
            print(
                f"snapshot: {size:.1f} MB (database) in {took:.2f} s = {size / took:.1f} MB/s "
                f"({megabytes / took:.1f} MB of keys/s), revision {record['revision']}"
            )

            snapshot = store.path(record["location"])
            took = restore(cluster, root, snapshot, record["checksum"])
            print(
                f"restore (init container script): {size:.1f} MB in {took:.2f} s "
                f"= {size / took:.1f} MB/s"
            )
            cluster.start("r0", cluster.initial_cluster(["r0"]), "new")
            cluster.wait_healthy("r0", timeout=120)
            async with EtcdClient([cluster.members["r0"].endpoint], timeout=30) as one:
                restored = await one.count_prefix(b"/bench/")
            print(f"restored keys: {restored}/{count} ({restored / count:.0%})")
            cluster.stop("r0")

            detected, probe_time, replaced = await death(cluster)
            print(
                f"member death -> detected unhealthy: {detected * 1000:.0f} ms "
                f"(one probe of 3 members: {probe_time * 1000:.0f} ms)"
            )
            print(
                f"member death -> replaced and healthy voter again: {replaced:.2f} s "
                f"(replaced at once; {replaced / max(detected, 1e-3):.1f}x detection)"
            )
        finally:
            cluster.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100, help="MB of keys to write (default 100)")
    asyncio.run(main(parser.parse_args().mb))
