"""Draining a guest node, with the real kube-apiserver standing in as the guest API.

Covers: a Node (simulated by kwok, so its pods run and become Ready) with a
free pod and two pods guarded by a PodDisruptionBudget that allows no
disruption; the guest API is reached the way the operator reaches it,
through the cluster's kubeconfig Secret. One drain pass cordons the Node,
evicts the free pod through the Eviction API, is refused by the budget for
the guarded pods (reported as held by the PDB); the deletion status says
Draining; once the drain timeout has passed, the deletion proceeds with
Drained=False, reason DrainTimeout, and the guarded pods are still there. A
kubeconfig pointing at nothing is reported as GuestUnreachable.
"""

import json
import secrets
import time
from base64 import b64encode
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from operators.kvm import lifecycle
from operators.kvm.context import KVMSettings
from operators.kvm.model import parse
from operators.kvm.reconcile import Run
from shared.kube import Kube, connect, connect_kubeconfig
from tests.localenv import LocalEnv, free_port

WAIT = 90.0


def _apply(local_env: LocalEnv, obj: dict[str, Any]) -> None:
    local_env.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(obj))


def _pod(name: str, namespace: str, node: str, app: str, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": app}, **meta},
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "c", "image": "app:1"}],
        },
    }


@pytest.fixture
def guest_node(local_env: LocalEnv) -> Iterator[str]:
    name = f"demo-w-{secrets.token_hex(3)}"
    _apply(
        local_env,
        {
            "apiVersion": "v1",
            "kind": "Node",
            # kwok manages nodes with this annotation: Ready, and runs their pods.
            "metadata": {"name": name, "annotations": {"kwok.x-k8s.io/node": "fake"}},
        },
    )
    yield name
    local_env.kubectl("delete", "node", name, "--wait=false", check=False)


def _kubeconfig_secret(local_env: LocalEnv, namespace: str, text: str) -> None:

    _apply(
        local_env,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "demo-kubeconfig", "namespace": namespace},
            "data": {"value": b64encode(text.encode()).decode()},
        },
    )


def _run(node: str, namespace: str, status: dict[str, Any] | None = None) -> Run:
    body: dict[str, Any] = {
        "metadata": {"name": node, "namespace": namespace, "generation": 1},
        "spec": {
            "cluster": "demo",
            "role": "worker",
            "index": 0,
            "network": "demo",
            "drainTimeout": "60s",
        },
        "status": status or {},
    }
    return Run(
        spec=parse(body),
        body=body,
        kube=Kube(connect(), "g8s-kvm"),
        settings=KVMSettings(),
        guest_client=lambda text: Kube(connect_kubeconfig(text), "g8s-kvm"),
    )


def _pods(local_env: LocalEnv, namespace: str) -> set[str]:
    out = local_env.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout
    return {p["metadata"]["name"] for p in json.loads(out)["items"]}


def _conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def test_drain_respects_the_pdb_and_reports_the_timeout(
    local_env: LocalEnv, namespace: str, guest_node: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(local_env.kubeconfig))
    local_env.kubectl(
        "wait", "--for=condition=Ready", f"node/{guest_node}", f"--timeout={int(WAIT)}s"
    )
    _apply(local_env, _pod("free-0", namespace, guest_node, "free"))
    for index in range(2):
        _apply(local_env, _pod(f"guarded-{index}", namespace, guest_node, "guarded"))
    _apply(
        local_env,
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "guarded", "namespace": namespace},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "guarded"}}},
        },
    )
    local_env.kubectl(
        "wait",
        "-n",
        namespace,
        "--for=condition=Ready",
        "pod",
        "free-0",
        "guarded-0",
        "guarded-1",
        f"--timeout={int(WAIT)}s",
    )
    local_env.kubectl(
        "wait",
        "-n",
        namespace,
        "--for=jsonpath={.status.currentHealthy}=2",
        "pdb/guarded",
        f"--timeout={int(WAIT)}s",
    )
    _kubeconfig_secret(local_env, namespace, local_env.kubeconfig.read_text())

    start = datetime.now(UTC).replace(microsecond=0)
    first = lifecycle.delete(_run(guest_node, namespace), now=start)
    assert not first.done
    assert first.status["phase"] == "Draining"
    drained = _conditions(first.status)["Drained"]
    assert (drained["status"], drained["reason"]) == ("False", "Draining")
    assert "2 held by a PodDisruptionBudget" in drained["message"]
    node = json.loads(local_env.kubectl("get", "node", guest_node, "-o", "json").stdout)
    assert node["spec"]["unschedulable"] is True

    deadline = time.monotonic() + WAIT
    while "free-0" in _pods(local_env, namespace):
        assert time.monotonic() < deadline, "the free pod was never evicted"
        time.sleep(0.5)

    later = start + timedelta(seconds=61)
    last = lifecycle.delete(_run(guest_node, namespace, first.status), now=later)
    assert last.done
    assert last.status["phase"] == "Deleting"
    drained = _conditions(last.status)["Drained"]
    assert (drained["status"], drained["reason"]) == ("False", "DrainTimeout")
    assert "drain timeout 60s reached" in drained["message"]
    assert _pods(local_env, namespace) == {"guarded-0", "guarded-1"}


def test_unreachable_guest_api_is_reported(
    local_env: LocalEnv, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(local_env.kubeconfig))
    nowhere = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "g", "cluster": {"server": f"https://127.0.0.1:{free_port()}"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "g", "user": "u"}}],
        "current-context": "c",
    }
    _kubeconfig_secret(local_env, namespace, json.dumps(nowhere))
    deletion = lifecycle.delete(_run("demo-w-gone", namespace), now=datetime.now(UTC))
    assert not deletion.done
    drained = _conditions(deletion.status)["Drained"]
    assert drained["reason"] == "GuestUnreachable"
    assert "guest API unreachable" in drained["message"]
