"""The kvm operator hears of its launcher pod's readiness at once, not from its timer.

Covered: with the refresh timer set to an hour, a KVMNode (its ClusterNetwork
and certificate Secrets in place, the local volume provisioner binding its
disk) still reaches Ready=True within seconds of its Deployment's pod being
ready: the operator's watch on its Deployments touches the KVMNode's
``g8s.io/children`` annotation (shared.owners), which kopf turns into a
reconcile. Once Ready, the KVMNode is not written again (nothing at rest).
The operator runs as a process against the local environment's API server.
"""

import json
import time
from pathlib import Path
from typing import Any

from tests.integration.kvm.test_apply import NODE, _apply, _network, _secrets
from tests.localenv import LocalEnv
from tests.localenv import get_json as _get
from tests.operators import is_ready, running_operator, settled, wait_for
from tests.volumes import running_provisioner

# Far beyond the test's own timeout: only the Deployment watch can make it Ready.
REFRESH_SECONDS = "3600"
READY_TIMEOUT = 60.0
AT_REST_SECONDS = 5.0


def ready_node(env: LocalEnv, namespace: str) -> dict[str, Any] | None:
    node = _get(env, namespace, "kvmnode", NODE)
    return node if is_ready(node) else None


def test_deployment_readiness_wakes_the_kvmnode(
    local_env: LocalEnv, namespace: str, tmp_path: Path
) -> None:
    _network(local_env, namespace)
    _secrets(local_env, namespace)
    settings = {**local_env.env(), "G8S_KVM_INTERVAL": REFRESH_SECONDS}
    with (
        running_provisioner(local_env, tmp_path),
        running_operator("kvm", env=settings, namespace=namespace, log_dir=tmp_path) as kvm,
    ):
        _apply(
            local_env,
            {
                "apiVersion": "g8s.io/v1alpha1",
                "kind": "KVMNode",
                "metadata": {"name": NODE, "namespace": namespace},
                "spec": {"cluster": "demo", "role": "worker", "index": 3, "network": "demo"},
            },
        )
        try:
            node = wait_for(
                lambda: ready_node(local_env, namespace),
                timeout=READY_TIMEOUT,
                what=f"KVMNode {NODE} Ready",
            )
        except TimeoutError:
            print(f"===== kvm log (tail) =====\n{kvm.log()[-6000:]}")
            raise
        deployment = _get(local_env, namespace, "deployment", NODE)
        assert deployment["status"]["readyReplicas"] == 1
        token = node["metadata"]["annotations"]["g8s.io/children"]
        assert token.startswith(f"Deployment/{NODE}/1/")
        assert node["status"]["podName"].startswith(f"{NODE}-")

        # The last reconcile's own writes land, then nothing more may come.
        before = settled(
            lambda: _get(local_env, namespace, "kvmnode", NODE)["metadata"]["resourceVersion"],
            quiet=2.0,
            timeout=30.0,
            what=f"kvmnode {NODE}",
        )
        time.sleep(AT_REST_SECONDS)
        after = _get(local_env, namespace, "kvmnode", NODE)["metadata"]["resourceVersion"]
        assert after == before, json.dumps(_get(local_env, namespace, "kvmnode", NODE))[:2000]
        local_env.kubectl("delete", "kvmnode", NODE, "-n", namespace, "--timeout=60s")
