"""The suite as pods on the real host node, with a 3-member guest etcd running for real.

The five operators run from their charts (the image built here, their
ServiceAccounts and RBAC), limited to this module's namespace; a Cluster asks
for three etcd members, which run as pods of the real node with the
certificates operator's TLS Secrets and real volumes. Checked here:

- the Cluster gets Ready, and the EtcdCluster's readiness comes from probing
  the members over the etcd v3 API (not from the StatefulSet alone);
- keys written through one member are read back, the same count and
  checksum, after one member's container is killed (it comes back with its
  data: the restart count rises, the member IDs stay).

Not covered yet: a member that loses its data. Tried here: with its data
directory destroyed the member's container restarts and the start script
joins it again under its old name, but it never serves the keys again and
the operator does not replace it (remove, learner, promote) before it looks
healthy; that gap is recorded in the issue notes, to be fixed in the start
script and the operator's health rules.

Members are asked with etcdctl through ``kubectl exec``, so the API server
reaches the real kubelet as well.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import install, progress
from tests.e2e.cluster import helpers
from tests.localenv import LocalEnv, wait_for
from tests.volumes import RunningProvisioner, running_provisioner

CLUSTER = "real"
SIMULATED_VMS = {
    "kvm": {
        "kvm": {
            "guestChecks": False,
            "launcherPods": {"nodeSelector": ["g8s.io/host=simulated"], "tolerations": []},
        }
    }
}
KEYS = 50
READY_TIMEOUT = 420.0
ETCDCTL = [
    "etcdctl",
    "--endpoints=https://127.0.0.1:2379",
    "--cacert=/etc/etcd/tls/server/ca.crt",
    "--cert=/etc/etcd/tls/peer/tls.crt",
    "--key=/etc/etcd/tls/peer/tls.key",
    "--command-timeout=10s",
]


@pytest.fixture(scope="module")
def suite_as_pods(
    local_env: LocalEnv, crds: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, RunningProvisioner]]:
    """The charts installed for a namespace of this module's own, and the volume provisioner."""
    assert local_env.real_node, f"no real node: {local_env.fallback_reason}"
    namespace = f"real-node-{secrets.token_hex(3)}"
    local_env.kubectl("create", "namespace", namespace)
    log_dir = tmp_path_factory.mktemp("real-node")
    try:
        with running_provisioner(local_env, log_dir) as provisioner:
            # Etcd is what this module checks: its Cluster's VMs stay on the
            # simulated hosts (tests/e2e/test_real_guests.py boots real ones).
            install.install(local_env, namespaces=[namespace], overrides=SIMULATED_VMS)
            yield namespace, provisioner
            local_env.kubectl(
                "delete", "cluster.g8s.io", "--all", "-n", namespace, "--timeout=180s", check=False
            )
    finally:
        install.uninstall(local_env)
        local_env.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def etcdctl(env: LocalEnv, namespace: str, member: str, *args: str) -> str:
    out = env.kubectl(
        "exec", "-n", namespace, member, "-c", "etcd", "--", *ETCDCTL, *args, timeout=60
    )
    return out.stdout


def member_list(env: LocalEnv, namespace: str, member: str) -> list[dict[str, Any]]:
    members: list[dict[str, Any]] = json.loads(
        etcdctl(env, namespace, member, "member", "list", "-w", "json")
    )["members"]
    return members


def keys_digest(env: LocalEnv, namespace: str, member: str) -> tuple[int, str]:
    """How many ``probe/`` keys a member serves, and a checksum of keys and values."""
    text = etcdctl(env, namespace, member, "get", "--prefix", "probe/", "-w", "json")
    kvs = json.loads(text).get("kvs") or []
    digest = hashlib.sha256(json.dumps(sorted((kv["key"], kv["value"]) for kv in kvs)).encode())
    return len(kvs), digest.hexdigest()


def etcd_ready(env: LocalEnv, namespace: str) -> dict[str, Any] | None:
    obj = helpers.get(env, namespace, "etcdcluster.g8s.io", CLUSTER)
    ready = helpers.condition(obj, "Ready")
    return obj if ready.get("status") == "True" and helpers.observed(obj) else None


def pod(env: LocalEnv, namespace: str, name: str) -> dict[str, Any]:
    return helpers.get(env, namespace, "pod", name)


def diagnostics(env: LocalEnv, namespace: str, provisioner: RunningProvisioner) -> str:
    """What held the Cluster back: every pod and claim of the host cluster (those
    another module left too), the node's taints, this namespace's events, the
    operators' and the provisioner's logs."""
    out = ["--- diagnostics ---"]
    for args in (
        ("get", "pods,pvc", "-A", "-o", "wide"),
        ("get", "pv", "-o", "wide"),
        ("get", "nodes", "-o", "custom-columns=NAME:.metadata.name,TAINTS:.spec.taints"),
        ("get", "etcdclusters.g8s.io", "-n", namespace, "-o", "yaml"),
        ("get", "events", "-n", namespace, "--sort-by=.lastTimestamp"),
    ):
        listed = env.kubectl(*args, check=False, timeout=60)
        out.append(f"$ kubectl {' '.join(args)}\n{listed.stdout}{listed.stderr}")
    operators = helpers.get(
        env, install.NAMESPACE, "pods", "-l", "app.kubernetes.io/component=operator"
    )["items"]
    for operator in operators:
        name = operator["metadata"]["name"]
        logs = env.kubectl("logs", name, "-n", install.NAMESPACE, "--tail=30", check=False)
        out.append(f"--- {name} (last 30 lines) ---\n{logs.stdout}{logs.stderr}")
    log = provisioner.log().splitlines()[-40:]
    out.append("--- volume provisioner (last 40 lines) ---\n" + "\n".join(log))
    return "\n".join(out)


def test_guest_etcd_runs_as_real_pods_and_keeps_its_data(
    local_env: LocalEnv, suite_as_pods: tuple[str, RunningProvisioner]
) -> None:
    namespace, provisioner = suite_as_pods
    helpers.apply(
        local_env,
        helpers.cluster(CLUSTER, namespace, workers=1, etcd={"replicas": 3, "storageGiB": 1}),
    )
    stage = progress.wait_printing(local_env, CLUSTER, namespace, READY_TIMEOUT)
    if not stage.ready:
        print(diagnostics(local_env, namespace, provisioner))
    assert stage.ready, f"Cluster {CLUSTER} not Ready: {stage.name}: {stage.message}"

    etcd = wait_for_etcd(local_env, namespace)
    ready = helpers.condition(etcd, "Ready")
    assert ready["reason"] == "MembersReady"
    assert "etcd v3 API" in ready["message"], ready
    members = [f"{CLUSTER}-etcd-{i}" for i in range(3)]
    for name in members:
        placed = pod(local_env, namespace, name)
        assert placed["spec"]["nodeName"].endswith("-host-0"), (
            "an etcd member ran on a simulated host"
        )
        assert placed["status"]["phase"] == "Running"

    # Write through one member; every member serves the same keys.
    for i in range(KEYS):
        etcdctl(local_env, namespace, members[0], "put", f"probe/{i:03d}", secrets.token_hex(8))
    written = keys_digest(local_env, namespace, members[0])
    assert written[0] == KEYS
    for name in members[1:]:
        assert keys_digest(local_env, namespace, name) == written

    # Kill one member's process: the container restarts with the same data and member ID.
    victim = members[1]
    before_ids = {m["name"]: m["ID"] for m in member_list(local_env, namespace, members[0])}
    restarts = pod(local_env, namespace, victim)["status"]["containerStatuses"][0]["restartCount"]
    local_env.kubectl("exec", "-n", namespace, victim, "-c", "etcd", "--", "kill", "1")
    wait_for(
        f"{victim} restarted and Ready",
        lambda: restarted(local_env, namespace, victim, restarts),
        timeout=180,
    )
    assert keys_digest(local_env, namespace, victim) == written
    assert {m["name"]: m["ID"] for m in member_list(local_env, namespace, members[0])} == before_ids


def wait_for_etcd(env: LocalEnv, namespace: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def ready() -> bool:
        obj = etcd_ready(env, namespace)
        if obj is not None:
            found.update(obj)
        return obj is not None

    wait_for(f"EtcdCluster {CLUSTER} Ready", ready, timeout=240)
    return found


def restarted(env: LocalEnv, namespace: str, name: str, restarts: int) -> bool:
    status = pod(env, namespace, name)["status"]
    container = (status.get("containerStatuses") or [{}])[0]
    return bool(container.get("restartCount", 0) > restarts and container.get("ready"))
