"""Run the certificates benchmark; see the package docstring."""

from __future__ import annotations

import argparse
import json
import secrets
import socket
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from bench.floor import sign_latencies
from shared.api import certificates as catalogue
from tests import localenv
from tests.operators import running_operator

SIGNED = [
    c
    for c in catalogue.COMPONENTS
    if not catalogue.profile(c, catalogue.ClusterInfo("x", "y")).key_pair_only
]
CRD = localenv.ROOT / "crds" / "certificates.g8s.io.yaml"


def certificates(namespace: str, count: int) -> list[dict[str, Any]]:
    objects = []
    for i in range(count):
        cluster = f"b{i // len(SIGNED):03d}"
        component = SIGNED[i % len(SIGNED)]
        info = catalogue.ClusterInfo(cluster, namespace, f"{cluster}.bench.test", "172.31.0.0/16")
        spec = catalogue.certificate_spec(component, info, ttl="24h", renew_before="1h")
        objects.append(
            {
                "apiVersion": "g8s.io/v1alpha1",
                "kind": "Certificate",
                "metadata": {"name": f"{cluster}-{component}", "namespace": namespace},
                "spec": spec,
            }
        )
    return objects


def secrets_written(env: localenv.LocalEnv, namespace: str) -> int:
    out = env.kubectl("get", "secrets", "-n", namespace, "-l", "g8s.io/certificate", "-o", "json")
    return sum(
        1 for s in json.loads(out.stdout)["items"] if not s["metadata"]["name"].endswith("-ca")
    )


def step_means(metrics: str) -> dict[str, tuple[float, int]]:
    """Mean seconds and count per reconcile step, from the operator's /metrics text."""
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
    """Seconds from applying ``count`` Certificates to the last of their Secrets, and step times."""
    namespace = f"bench-{secrets.token_hex(3)}"
    env.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD))
    env.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/certificates.g8s.io")
    env.kubectl("create", "namespace", namespace)
    port = free_port()
    operator_env = {
        **env.env(),
        "G8S_VAULT_ADDR": env.vault_addr,
        "G8S_VAULT_TOKEN": env.vault_token,
        "G8S_LOG_LEVEL": "WARNING",
        "G8S_METRICS_PORT": str(port),
        "G8S_METRICS_ADDRESS": "127.0.0.1",
    }
    with (
        tempfile.TemporaryDirectory() as logs,
        running_operator("certificates", env=operator_env, namespace=namespace, log_dir=Path(logs)),
    ):
        time.sleep(3)  # let kopf start watching before the clock starts
        manifest = yaml.safe_dump_all(certificates(namespace, count))
        started = time.perf_counter()
        env.kubectl("apply", "-f", "-", input=manifest, timeout=300)
        deadline = started + timeout
        while secrets_written(env, namespace) < count:
            if time.perf_counter() > deadline:
                raise SystemExit(f"timed out: {secrets_written(env, namespace)}/{count} Secrets")
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        url = f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            steps = step_means(response.read().decode())
        # Deleting them lets the operator revoke and remove the PKI mounts.
        env.kubectl("delete", "certificates.g8s.io", "--all", "-n", namespace, timeout=600)
    env.kubectl("delete", "namespace", namespace, "--wait=false")
    return elapsed, steps


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.certificates", description=__doc__)
    parser.add_argument("--count", type=int, default=200, help="certificates (default 200)")
    parser.add_argument("--env", default="g8s-bench", help="local environment name")
    parser.add_argument("--keep", action="store_true", help="leave the environment running")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)

    started_env = localenv.status(args.env) is None
    env = localenv.up(args.env)
    try:
        latencies = sign_latencies(env, args.count)
        elapsed, steps = operator_throughput(env, args.count, args.timeout)
    finally:
        if started_env and not args.keep:
            localenv.down(args.env)

    per_second = args.count / elapsed
    mean = statistics.fmean(latencies)
    floor_per_second = 1 / mean
    ordered = sorted(latencies)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    clusters = -(-args.count // len(SIGNED))
    print(f"certificates: {args.count}, {len(SIGNED)} components per cluster, {clusters} clusters")
    print(
        f"operator: Certificate created -> Secret written: {elapsed:.2f} s for all, "
        f"{per_second:.1f} certificates/s"
    )
    print(
        f"vault sign alone (sequential): mean {mean * 1000:.2f} ms, median "
        f"{statistics.median(latencies) * 1000:.2f} ms, p95 {p95 * 1000:.2f} ms, "
        f"{floor_per_second:.1f} signs/s"
    )
    print(f"ratio sign-alone / operator throughput: {floor_per_second / per_second:.2f}x")
    print("operator reconcile steps (mean ms x count, runs overlap):")
    for step, (seconds, runs) in sorted(steps.items(), key=lambda kv: -kv[1][0]):
        print(f"  {step:16} {seconds * 1000:8.2f} ms x {runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
