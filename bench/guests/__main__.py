"""Benchmark of real guest clusters: ``python -m bench.guests``.

On the local environment (``make up``; brought up if it is not) with the
charts installed on its real node, one Cluster of ``--workers`` workers is
applied and timed. Prints figures, asserts nothing about time:

- apply -> the guest API answers ``/readyz`` through the admin kubeconfig,
  -> every guest Node Ready, -> the Cluster Ready;
- per VM: launcher pod started -> its kubelet registered (the guest Node's
  creation), and QEMU's and the launcher's resident memory;
- the accelerator each launcher used (software emulation or KVM), from its log;
- delete -> the Cluster gone (drain, ACPI power-down, cleanup).
"""

from __future__ import annotations

import argparse
import base64
import json
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from tests import install, localenv
from tests.e2e.cluster import helpers
from tests.volumes import running_provisioner

POLL = 2.0


def _get(env: localenv.LocalEnv, *args: str) -> dict[str, Any]:
    out = env.kubectl("get", *args, "-o", "json", check=False, timeout=30)
    return dict(json.loads(out.stdout)) if out.returncode == 0 else {}


def _guest(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(localenv.BIN / "kubectl"), "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _when(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _rss_mib(pattern: str) -> dict[str, float]:
    """Resident memory (MiB) of processes whose command line contains ``pattern``."""
    found: dict[str, float] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            status = (proc / "status").read_text()
        except OSError:
            continue
        if pattern not in cmd:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                found[f"{proc.name} {cmd[:80]}"] = int(line.split()[1]) / 1024
    return found


def _ready_nodes(kubeconfig: Path) -> tuple[int, int]:
    out = _guest(kubeconfig, "get", "nodes", "-o", "json")
    if out.returncode != 0:
        return 0, 0
    items = json.loads(out.stdout)["items"]
    ready = [
        n
        for n in items
        if any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in n.get("status", {}).get("conditions", [])
        )
    ]
    return len(ready), len(items)


def _cluster(name: str, namespace: str, workers: int) -> dict[str, Any]:
    manifest = helpers.cluster(name, namespace)
    manifest["spec"].update(
        controlPlane={"replicas": 1, "cpus": 2, "memoryMiB": 2048, "diskGiB": 10},
        workers={"replicas": workers, "cpus": 1, "memoryMiB": 1024, "diskGiB": 10},
        etcd={"replicas": 1, "storageGiB": 1},
        network={"serviceCIDR": "198.18.192.0/20", "podCIDR": "198.18.128.0/18"},
    )
    return manifest


def _cluster_ready(env: localenv.LocalEnv, name: str, namespace: str) -> bool:
    obj = _get(env, "cluster.g8s.io", name, "-n", namespace)
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _time_boot(
    env: localenv.LocalEnv,
    name: str,
    namespace: str,
    kubeconfig: Path,
    *,
    nodes: int,
    timeout: float,
) -> dict[str, float]:
    """Seconds from now to: the guest API answering, every Node Ready, the Cluster Ready."""
    started = time.monotonic()
    marks: dict[str, float] = {}
    while time.monotonic() - started < timeout and "ready" not in marks:
        secret = _get(env, "secret", f"{name}-kubeconfig", "-n", namespace)
        if secret and "api" not in marks:
            kubeconfig.write_bytes(base64.b64decode(secret["data"]["value"]))
            if _guest(kubeconfig, "get", "--raw", "/readyz").returncode == 0:
                marks["api"] = time.monotonic() - started
        if "api" in marks and "nodes" not in marks and _ready_nodes(kubeconfig)[0] == nodes:
            marks["nodes"] = time.monotonic() - started
        if _cluster_ready(env, name, namespace):
            marks["ready"] = time.monotonic() - started
        time.sleep(POLL)
    return marks


def _accelerator(env: localenv.LocalEnv, namespace: str, pod: str) -> str:
    log = env.kubectl("logs", "-n", namespace, pod, check=False).stdout
    for line in log.splitlines():
        if '"event": "accelerator"' in line:
            return str(json.loads(line).get("accel"))
    return "?"


def _report_vms(env: localenv.LocalEnv, name: str, namespace: str, kubeconfig: Path) -> None:
    pods = _get(env, "pods", "-n", namespace, "-l", "g8s.io/kvm-node").get("items") or []
    out = _guest(kubeconfig, "get", "nodes", "-o", "json")
    nodes = (
        {n["metadata"]["name"]: n for n in json.loads(out.stdout)["items"]}
        if (out.returncode == 0)
        else {}
    )
    for pod in pods:
        vm = pod["metadata"]["labels"]["g8s.io/kvm-node"]
        begun, node = pod["status"].get("startTime"), nodes.get(vm)
        if begun and node:
            seconds = _when(node["metadata"]["creationTimestamp"]) - _when(begun)
            print(f"  {vm}: launcher pod start -> kubelet registered {seconds:.0f} s")
        print(f"  {vm}: accelerator {_accelerator(env, namespace, pod['metadata']['name'])}")
    for proc, mib in sorted(_rss_mib(f"guest={name}-").items()):
        print(f"  RSS QEMU     {mib:7.0f} MiB  {proc[:60]}")
    for proc, mib in sorted(_rss_mib("operators.kvm.launcher").items()):
        if "qemu" not in proc:
            print(f"  RSS launcher {mib:7.0f} MiB  {proc[:60]}")


def run(env: localenv.LocalEnv, workers: int, timeout: float) -> None:
    namespace = f"bench-guests-{secrets.token_hex(3)}"
    name = "bench"
    env.kubectl("create", "namespace", namespace)
    with (
        tempfile.TemporaryDirectory(prefix="bench-guests-") as tmp,
        running_provisioner(env, Path(tmp)),
    ):
        install.install(env, namespaces=[namespace])
        env.kubectl("apply", "-f", "-", input=json.dumps(_cluster(name, namespace, workers)))
        kubeconfig = Path(tmp) / "guest.kubeconfig"
        marks = _time_boot(env, name, namespace, kubeconfig, nodes=1 + workers, timeout=timeout)
        print(f"guest cluster 1 control plane + {workers} worker(s)")
        for key, what in (
            ("api", "apply -> guest API /readyz ok"),
            ("nodes", "apply -> every guest Node Ready"),
            ("ready", "apply -> Cluster Ready"),
        ):
            value = f"{marks[key]:.0f} s" if key in marks else f"not within {timeout:.0f} s"
            print(f"  {what:38s} {value}")
        if kubeconfig.exists():
            _report_vms(env, name, namespace, kubeconfig)
        deleting = time.monotonic()
        env.kubectl(
            "delete", "cluster.g8s.io", name, "-n", namespace, "--timeout=900s", timeout=960
        )
        print(f"  delete -> Cluster gone                 {time.monotonic() - deleting:.0f} s")
        install.uninstall(env)
    env.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800.0)
    args = parser.parse_args(argv)
    env = localenv.up()
    if not env.real_node:
        print(f"no real node here ({env.fallback_reason}): no guest can boot", file=sys.stderr)
        return 2
    env.kubectl("apply", "--server-side", "-f", str(localenv.ROOT / "crds"))
    run(env, args.workers, args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
