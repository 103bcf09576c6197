"""The five operators together on the local environment.

All five run as processes (as ``make demo`` runs them) in one namespace;
``examples/cluster.yaml`` and the standalone example of every other kind are
applied with ``kubectl``. Checked: ``kubectl get g8s`` lists objects of all
five kinds; every object reports the generation it has seen and a Ready
condition first; deleting everything leaves no g8s object behind (whatever
finalizers the operators add, they release them).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import yaml

from shared.api.kinds import ALL_KINDS
from tests.localenv import LocalEnv
from tests.operators import running_operator, wait_for

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = (
    "cluster.yaml",
    "certificate.yaml",
    "etcdcluster.yaml",
    "clusternetwork.yaml",
    "kvmnode.yaml",
)


def _objects(local_env: LocalEnv, namespace: str) -> list[dict[str, Any]]:
    out = local_env.kubectl("get", "g8s", "-n", namespace, "-o", "json").stdout
    return list(json.loads(out)["items"])


def _all_observed(local_env: LocalEnv, namespace: str) -> list[dict[str, Any]] | None:
    items = _objects(local_env, namespace)
    if len(items) < len(EXAMPLES):
        return None
    for item in items:
        status = item.get("status") or {}
        if status.get("observedGeneration") != item["metadata"]["generation"]:
            return None
    return items


def test_all_five_operators_together(local_env: LocalEnv, namespace: str, tmp_path: Path) -> None:
    with contextlib.ExitStack() as stack:
        running = [
            stack.enter_context(
                running_operator(
                    kind.operator, env=local_env.env(), namespace=namespace, log_dir=tmp_path
                )
            )
            for kind in ALL_KINDS
        ]
        try:
            for example in EXAMPLES:
                body = yaml.safe_load((ROOT / "examples" / example).read_text())
                body["metadata"]["namespace"] = namespace
                local_env.kubectl("apply", "-f", "-", input=json.dumps(body))

            listed = local_env.kubectl("get", "g8s", "-n", namespace, "-o", "name").stdout
            kinds = {line.split("/")[0].split(".")[0] for line in listed.split()}
            assert kinds == {kind.kind.lower() for kind in ALL_KINDS}

            items = wait_for(
                lambda: _all_observed(local_env, namespace),
                timeout=120,
                what="every g8s object to report observedGeneration",
            )
            for item in items:
                assert item["status"]["conditions"][0]["type"] == "Ready", item["metadata"]["name"]
            for operator in running:
                assert operator.process.poll() is None, f"{operator.name} exited"

            local_env.kubectl("delete", "g8s", "--all", "-n", namespace, "--wait=false")
            wait_for(
                lambda: not _objects(local_env, namespace),
                timeout=120,
                what="every g8s object to be deleted",
            )
        except BaseException:
            for operator in running:
                print(f"--- {operator.name} log\n{operator.log()}")
            raise
