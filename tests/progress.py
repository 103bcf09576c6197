"""Waiting for a Cluster to become Ready, saying which stage it is in.

A guest cluster under software emulation takes minutes; a silent wait tells a
user nothing. ``stage(cluster, nodes)`` (pure) names where a Cluster is:
certificates, etcd, network, VMs booting, guest API, guest nodes; ``wait``
polls the API and prints one line whenever the stage or its message changes.

``python -m tests.progress NAME [-n NAMESPACE] [--timeout SECONDS]`` (what
``make demo`` runs) exits 0 once the Cluster is Ready, 1 on timeout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tests import localenv

POLL_SECONDS = 5.0


@dataclass(frozen=True)
class Stage:
    name: str
    message: str
    ready: bool = False


def _conditions(obj: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found = (obj.get("status") or {}).get("conditions") or []
    return {str(c.get("type")): c for c in found if isinstance(c, Mapping)}


def _true(conditions: Mapping[str, Mapping[str, Any]], kind: str) -> bool:
    return (conditions.get(kind) or {}).get("status") == "True"


def _message(conditions: Mapping[str, Mapping[str, Any]], kind: str) -> str:
    cond = conditions.get(kind) or {}
    reason = cond.get("reason") or "Pending"
    return f"{reason}: {cond.get('message') or 'no report yet'}"


def _node_stage(nodes: Sequence[Mapping[str, Any]]) -> Stage:
    booting = [n for n in nodes if not _true(_conditions(n), "VMRunning")]
    if booting or not nodes:
        names = ", ".join(str(n["metadata"]["name"]) for n in booting) or "none created yet"
        first = _message(_conditions(booting[0]), "VMRunning") if booting else ""
        return Stage("VMs starting", f"{names} {first}".strip())
    waiting = [n for n in nodes if not _true(_conditions(n), "NodeReady")]
    if not waiting:
        return Stage("guest nodes", "every node Ready")
    detail = _message(_conditions(waiting[0]), "NodeReady")
    # Unreachable guest API: the control plane is still booting.
    name = "guest API" if "Unreachable" in detail or "unreachable" in detail else "guest nodes"
    return Stage(name, f"{waiting[0]['metadata']['name']} {detail}")


def stage(cluster: Mapping[str, Any], nodes: Sequence[Mapping[str, Any]]) -> Stage:
    """Where ``cluster`` is, from its conditions and those of its KVMNodes."""
    conditions = _conditions(cluster)
    if _true(conditions, "Ready"):
        return Stage("ready", _message(conditions, "Ready"), ready=True)
    for kind, name in (
        ("CertificatesReady", "certificates"),
        ("EtcdReady", "etcd"),
        ("NetworkReady", "network"),
    ):
        if not _true(conditions, kind):
            return Stage(name, _message(conditions, kind))
    return _node_stage(nodes)


def _get(env: localenv.LocalEnv, *args: str) -> dict[str, Any]:
    out = env.kubectl("get", *args, "-o", "json", check=False, timeout=30)
    if out.returncode != 0:
        return {}
    parsed: dict[str, Any] = json.loads(out.stdout)
    return parsed


def observe(env: localenv.LocalEnv, name: str, namespace: str) -> Stage:
    cluster = _get(env, "clusters.g8s.io", name, "-n", namespace)
    if not cluster:
        return Stage("waiting", f"Cluster {namespace}/{name} not found yet")
    listed = _get(env, "kvmnodes.g8s.io", "-n", namespace, "-l", f"g8s.io/cluster={name}")
    return stage(cluster, listed.get("items") or [])


def wait(
    look: Callable[[], Stage],
    timeout: float,
    say: Callable[[str], None] = print,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Stage:
    """Poll ``look`` until ready or ``timeout``; one line per change of stage or message."""
    started = clock()
    last: Stage | None = None
    while True:
        now = look()
        if now != last:
            say(f"[{clock() - started:6.0f}s] {now.name}: {now.message}")
            last = now
        if now.ready or clock() - started >= timeout:
            return now
        sleep(POLL_SECONDS)


def wait_printing(env: localenv.LocalEnv, name: str, namespace: str, timeout: float) -> Stage:
    """``wait`` for Cluster ``namespace/name``, printing each line at once (a test's output)."""
    return wait(
        lambda: observe(env, name, namespace), timeout, say=lambda line: print(line, flush=True)
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("-n", "--namespace", default="default")
    parser.add_argument("--timeout", type=float, default=1800.0)
    args = parser.parse_args(argv)
    env = localenv.status()
    if env is None:
        print("no local environment is up (make up)", file=sys.stderr)
        return 2
    result = wait_printing(env, args.name, args.namespace, args.timeout)
    return 0 if result.ready else 1


if __name__ == "__main__":
    sys.exit(main())
