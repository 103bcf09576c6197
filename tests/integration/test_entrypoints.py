"""Each operator's entry point, run as a process, records observedGeneration.

For every one of the five operators: ``python -m operators.<name>`` starts
against the real API server, the kind's example is applied in a namespace of
its own, and ``status.observedGeneration`` must reach ``metadata.generation``
— first after the create, then again after a spec change bumps the
generation. Whatever else an operator does with the object, it must always
say which generation it has seen.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.localenv import LocalEnv, get_json
from tests.operators import running_operator, wait_for

ROOT = Path(__file__).resolve().parents[2]

# operator -> (example file, a valid merge patch of a mutable spec field)
CASES = {
    "cluster": ("cluster.yaml", {"spec": {"workers": {"replicas": 3}}}),
    "certificates": ("certificate.yaml", {"spec": {"renewBefore": "700h"}}),
    "etcd": ("etcdcluster.yaml", {"spec": {"backup": {"keep": 5}}}),
    "network": ("clusternetwork.yaml", {"spec": {"mtu": 1400}}),
    "kvm": ("kvmnode.yaml", {"spec": {"cpus": 3}}),
}


def _get(local_env: LocalEnv, kind: str, name: str, namespace: str) -> dict[str, Any]:
    return get_json(local_env, namespace, kind, name)


def _observed(local_env: LocalEnv, kind: str, name: str, namespace: str) -> int | None:
    body = _get(local_env, kind, name, namespace)
    generation = body["metadata"]["generation"]
    observed = (body.get("status") or {}).get("observedGeneration")
    return generation if observed == generation else None


@pytest.mark.parametrize("operator", sorted(CASES))
def test_entry_point_records_observed_generation(
    operator: str, local_env: LocalEnv, namespace: str, tmp_path: Path
) -> None:
    example, change = CASES[operator]
    body = yaml.safe_load((ROOT / "examples" / example).read_text())
    body["metadata"]["namespace"] = namespace
    kind, name = body["kind"], body["metadata"]["name"]
    with running_operator(
        operator, env=local_env.env(), namespace=namespace, log_dir=tmp_path
    ) as running:
        try:
            local_env.kubectl("apply", "-f", "-", input=json.dumps(body))
            first = wait_for(
                lambda: _observed(local_env, kind, name, namespace),
                timeout=60,
                what=f"{kind} {name} observedGeneration",
            )
            local_env.kubectl(
                "patch", kind, name, "-n", namespace, "--type=merge", "-p", json.dumps(change)
            )
            second = wait_for(
                lambda: _observed(local_env, kind, name, namespace),
                timeout=60,
                what=f"{kind} {name} observedGeneration after a spec change",
            )
            assert second == first + 1
            assert running.process.poll() is None, "the operator exited"
            ready = _get(local_env, kind, name, namespace)["status"]["conditions"][0]
            assert ready["type"] == "Ready"
        except BaseException:
            print(running.log())
            raise
