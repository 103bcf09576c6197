"""Benchmark of the kvm operator and VM launcher: ``python -m bench.kvm``.

Prints figures, asserts nothing about time:

- launcher start -> first serial line, and -> the guest's Ignition hash line,
  booting the tiny test guest (.ci/install-guest.sh) under software
  emulation (TCG), ``--boots`` times; the same under KVM when /dev/kvm is
  usable, with the ratio;
- the operator (a real process) reconciling ``--count`` KVMNodes on the
  local environment: seconds from applying them to every one having its
  Deployment and an observed status, and the mean time per reconcile step.
"""

import argparse
import hashlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from base64 import b64encode
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from operators.kvm.launcher.command import kvm_usable
from tests import localenv
from tests.operators import running_operator

GUEST = localenv.ROOT / ".tools" / "guest"
SHA_MARK = b"ignition-sha256="
BOOT_TIMEOUT = 300.0
KVM_BOOT_TIMEOUT = 60.0


def boot_once(accel: str, kvm_device: str, work: Path, timeout: float) -> tuple[float, float]:
    """Seconds from the launcher's start to its first console line and to the hash line."""
    ignition = work / "config.ign"
    ignition.write_bytes(json.dumps({"ignition": {"version": "3.4.0"}}).encode())
    env = {
        **os.environ,
        "G8S_LAUNCHER_NAME": "bench",
        "G8S_LAUNCHER_MEMORY_MIB": "256",
        "G8S_LAUNCHER_KERNEL": str(GUEST / "vmlinuz"),
        "G8S_LAUNCHER_INITRD": str(GUEST / "initramfs.gz"),
        "G8S_LAUNCHER_APPEND": "console=ttyS0 panic=-1",
        "G8S_LAUNCHER_IGNITION": str(ignition),
        "G8S_LAUNCHER_QMP_SOCKET": str(work / "qmp.sock"),
        "G8S_LAUNCHER_READY_PORT": "0",
        "G8S_LAUNCHER_ACCEL": accel,
        "G8S_LAUNCHER_KVM_DEVICE": kvm_device,
        "G8S_LOG_LEVEL": "WARNING",
    }
    started = time.perf_counter()
    first = hashed = 0.0
    with subprocess.Popen(
        [sys.executable, "-m", "operators.kvm.launcher"],
        cwd=localenv.ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as proc:
        assert proc.stdout is not None
        # A boot that hangs (e.g. a nested /dev/kvm that opens but never runs
        # the guest) is killed, so the benchmark reports it instead of waiting.
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        for line in proc.stdout:
            now = time.perf_counter() - started
            if not first and line.strip():
                first = now
            if SHA_MARK in line:
                hashed = now
                expected = hashlib.sha256(ignition.read_bytes()).hexdigest().encode()
                if expected not in line:
                    raise SystemExit(f"wrong hash on the console: {line!r}")
        proc.wait()
        killer.cancel()
    if not hashed:
        raise BootError(f"no hash on the console within {timeout:.0f} s ({accel})")
    return first, hashed


class BootError(Exception):
    pass


def boots(
    accel: str, kvm_device: str, count: int, timeout: float
) -> tuple[list[float], list[float]]:
    firsts, hashes = [], []
    for _ in range(count):
        with tempfile.TemporaryDirectory() as work:
            first, hashed = boot_once(accel, kvm_device, Path(work), timeout)
        firsts.append(first)
        hashes.append(hashed)
    return firsts, hashes


def _b64(text: str) -> str:
    return b64encode(text.encode()).decode()


def objects(namespace: str, count: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "data": {"ca.crt": _b64("CA"), "tls.crt": _b64("CERT"), "tls.key": _b64("KEY")},
        }
        for name in ("bench-ca", "bench-worker")
    ]
    out += [
        {
            "apiVersion": "g8s.io/v1alpha1",
            "kind": "KVMNode",
            "metadata": {"name": f"bench-w-{index:03d}", "namespace": namespace},
            "spec": {"cluster": "bench", "role": "worker", "index": index, "network": "bench"},
        }
        for index in range(count)
    ]
    return out


def reconciled(env: localenv.LocalEnv, namespace: str) -> int:
    nodes = json.loads(env.kubectl("get", "kvmnodes", "-n", namespace, "-o", "json").stdout)
    listed = env.kubectl("get", "deployments", "-n", namespace, "-o", "name").stdout
    deployments = len(listed.split())
    observed = sum(
        1
        for node in nodes["items"]
        if (node.get("status") or {}).get("observedGeneration") == 1
        and (node.get("status") or {}).get("ipAddress")
    )
    return min(observed, deployments)


def step_means(metrics: str) -> dict[str, tuple[float, int]]:
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for family in text_string_to_metric_families(metrics):
        if family.name != "g8s_reconcile_duration_seconds":
            continue
        for sample in family.samples:
            step = sample.labels.get("step", "")
            if sample.name.endswith("_sum"):
                sums[step] = sample.value
            elif sample.name.endswith("_count"):
                counts[step] = int(sample.value)
    return {step: (sums[step] / counts[step], counts[step]) for step in sums if counts.get(step)}


def operator_throughput(
    env: localenv.LocalEnv, count: int, timeout: float
) -> tuple[float, dict[str, tuple[float, int]]]:
    namespace = f"bench-kvm-{secrets.token_hex(3)}"
    crds = localenv.ROOT / "crds"
    env.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crds))
    env.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/kvmnodes.g8s.io")
    env.kubectl("create", "namespace", namespace)
    network = {
        "apiVersion": "g8s.io/v1alpha1",
        "kind": "ClusterNetwork",
        "metadata": {"name": "bench", "namespace": namespace},
        "spec": {"mtu": 1450},
    }
    env.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(network))
    status = {"status": {"subnet": "10.100.9.0/24", "gateway": "10.100.9.1", "bridge": "g8s-br-9"}}
    env.kubectl(
        "patch",
        "-n",
        namespace,
        "clusternetwork",
        "bench",
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(status),
    )
    port = localenv.free_port()
    operator_env = {
        **env.env(),
        # No guest boots here: readiness from the host pods (docs/design.md#the-local-environment).
        "G8S_KVM_GUEST_CHECKS": "false",
        "G8S_LOG_LEVEL": "WARNING",
        "G8S_METRICS_PORT": str(port),
        "G8S_METRICS_ADDRESS": "127.0.0.1",
    }
    manifest = "\n".join(json.dumps(o) for o in objects(namespace, count))
    with (
        tempfile.TemporaryDirectory() as logs,
        running_operator("kvm", env=operator_env, namespace=namespace, log_dir=Path(logs)),
    ):
        time.sleep(3)  # let kopf start watching before the clock starts
        started = time.perf_counter()
        env.kubectl("apply", "-f", "-", input=manifest, timeout=300)
        deadline = started + timeout
        while (done := reconciled(env, namespace)) < count:
            if time.perf_counter() > deadline:
                raise SystemExit(f"timed out: {done}/{count} KVMNodes reconciled")
            time.sleep(0.5)
        elapsed = time.perf_counter() - started
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            steps = step_means(response.read().decode())
    env.kubectl("delete", "namespace", namespace, "--wait=false")
    return elapsed, steps


def _summary(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.kvm", description=__doc__)
    parser.add_argument("--boots", type=int, default=3, help="boots per accelerator (default 3)")
    parser.add_argument("--count", type=int, default=200, help="KVMNodes (default 200)")
    parser.add_argument("--env", default="g8s-bench", help="local environment name")
    parser.add_argument("--keep", action="store_true", help="leave the environment running")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--skip-operator", action="store_true", help="launcher figures only")
    args = parser.parse_args(argv)
    if not (GUEST / "vmlinuz").is_file():
        raise SystemExit("no test guest: run .ci/install-guest.sh")

    tcg_first, tcg_hash = boots("tcg", "/dev/kvm", args.boots, BOOT_TIMEOUT)
    print(f"launcher, software emulation (TCG), {args.boots} boots:")
    print(f"  start -> first serial line: {_summary(tcg_first)}")
    print(f"  start -> ignition hash on the console: {_summary(tcg_hash)}")
    problem = kvm_usable("/dev/kvm")
    kvm_first: list[float] = []
    kvm_hash: list[float] = []
    if problem:
        print(f"launcher with KVM: not measured ({problem})")
    else:
        try:
            kvm_first, kvm_hash = boots("kvm", "/dev/kvm", args.boots, KVM_BOOT_TIMEOUT)
        except BootError as exc:
            print(f"launcher with KVM: /dev/kvm opens but the guest did not boot: {exc}")
    if kvm_hash:
        print(f"launcher, KVM, {args.boots} boots:")
        print(f"  start -> first serial line: {_summary(kvm_first)}")
        print(f"  start -> ignition hash on the console: {_summary(kvm_hash)}")
        ratio = statistics.median(tcg_hash) / statistics.median(kvm_hash)
        print(f"  ratio TCG / KVM (to the hash line): {ratio:.2f}x")
    if args.skip_operator:
        return 0

    started_env = localenv.status(args.env) is None
    env = localenv.up(args.env)
    try:
        elapsed, steps = operator_throughput(env, args.count, args.timeout)
    finally:
        if started_env and not args.keep:
            localenv.down(args.env)
    print(
        f"operator: {args.count} KVMNodes applied -> all reconciled (Deployment + status): "
        f"{elapsed:.2f} s, {args.count / elapsed:.1f} nodes/s"
    )
    print("operator reconcile steps (mean ms x count):")
    for step, (mean, runs) in sorted(steps.items()):
        print(f"  {step:14s} {mean * 1000:8.2f} ms x {runs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
