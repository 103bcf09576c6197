"""Benchmark of the cluster operator with the four others: ``python -m bench.cluster``.

Prints figures, asserts nothing about time:

- seconds from ``kubectl apply`` to Ready for one Cluster, and for ``--count``
  Clusters applied at once (the ratio per cluster);
- API write requests per minute at rest with those Clusters Ready, from the
  API server's own ``apiserver_request_total`` (verbs other than GET, LIST,
  WATCH), sampled over ``--rest`` seconds;
- resident memory (VmRSS) of each operator process at that point.

Runs on the local environment ``g8s-bench`` (``$G8S_ENV_NAME`` overrides),
started if needed. The environment has no volume provisioner, so the
benchmark pre-creates PersistentVolumes for the VM disks and etcd data.
"""

import argparse
import contextlib
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from shared.api.kinds import ALL_KINDS
from tests import localenv
from tests.operators import RunningOperator, running_operator

READ_VERBS = {"GET", "LIST", "WATCH"}


def cluster(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "g8s.io/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"baseDomain": f"{name}.g8s.local", "workers": {"replicas": 1}},
    }


def volumes(env: localenv.LocalEnv, prefix: str, block: int, filesystem: int) -> list[str]:
    made = []
    for mode, count in (("Block", block), ("Filesystem", filesystem)):
        for index in range(count):
            name = f"{prefix}-{mode.lower()}-{index}"
            made.append(name)
            volume = {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": name},
                "spec": {
                    "capacity": {"storage": "100Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "volumeMode": mode,
                    "persistentVolumeReclaimPolicy": "Retain",
                    "hostPath": {"path": f"/var/lib/g8s-volumes/{name}"},
                },
            }
            env.kubectl("apply", "-f", "-", input=json.dumps(volume))
    return made


def ready_count(env: localenv.LocalEnv, namespace: str) -> int:
    out = env.kubectl("get", "clusters.g8s.io", "-n", namespace, "-o", "json").stdout
    count = 0
    for item in json.loads(out)["items"]:
        for condition in (item.get("status") or {}).get("conditions") or []:
            if condition["type"] == "Ready" and condition["status"] == "True":
                count += 1
    return count


def time_to_ready(env: localenv.LocalEnv, namespace: str, count: int, timeout: float) -> float:
    started = time.monotonic()
    items = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [cluster(f"b{i}", namespace) for i in range(count)],
    }
    env.kubectl("apply", "-f", "-", input=json.dumps(items))
    while time.monotonic() - started < timeout:
        if ready_count(env, namespace) >= count:
            return time.monotonic() - started
        time.sleep(1.0)
    raise TimeoutError(f"{ready_count(env, namespace)}/{count} Clusters Ready after {timeout}s")


def writes(env: localenv.LocalEnv) -> float:
    text = env.kubectl("get", "--raw", "/metrics").stdout
    total = 0.0
    for family in text_string_to_metric_families(text):
        if family.name != "apiserver_request":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels.get("verb") not in READ_VERBS:
                total += sample.value
    return total


def rss_mib(operator: RunningOperator) -> float:
    status = Path(f"/proc/{operator.process.pid}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--rest", type=float, default=60.0)
    parser.add_argument("--timeout", type=float, default=1800.0)
    args = parser.parse_args()
    env = localenv.up(os.environ.get(localenv.NAME_VARIABLE) or "g8s-bench")
    tag = secrets.token_hex(3)
    namespaces = [f"bench-one-{tag}", f"bench-many-{tag}"]
    for ns in namespaces:
        env.kubectl("create", "namespace", ns)
    made = volumes(env, f"bench-{tag}", 2 * (args.count + 1) + 4, args.count + 2)
    log_dir = Path(localenv.ROOT / ".state" / "bench-cluster" / tag)
    log_dir.mkdir(parents=True, exist_ok=True)
    try:
        with contextlib.ExitStack() as stack:
            running = [
                stack.enter_context(
                    running_operator(
                        kind.operator,
                        env=env.env(),
                        namespace=",".join(namespaces),
                        log_dir=log_dir,
                    )
                )
                for kind in ALL_KINDS
            ]
            one = time_to_ready(env, namespaces[0], 1, args.timeout)
            print(f"apply -> Ready, 1 cluster: {one:.1f} s")
            many = time_to_ready(env, namespaces[1], args.count, args.timeout)
            print(
                f"apply -> Ready, {args.count} clusters at once: {many:.1f} s "
                f"({many / args.count:.2f} s per cluster, {many / one:.1f}x one cluster)"
            )
            before = writes(env)
            time.sleep(args.rest)
            rate = (writes(env) - before) * 60.0 / args.rest
            print(f"API writes at rest with {args.count + 1} Ready clusters: {rate:.1f} per minute")
            for operator in running:
                print(f"resident memory, {operator.name} operator: {rss_mib(operator):.1f} MiB")
    finally:
        for ns in namespaces:
            env.kubectl("delete", "namespace", ns, "--wait=false", check=False)
        env.kubectl("delete", "pv", "--wait=false", *made, check=False)
        print(f"operator logs: {log_dir}")


if __name__ == "__main__":
    main()
