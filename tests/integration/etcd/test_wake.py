"""The etcd operator hears of its members' pod readiness at once, not from its timer.

Covered: with the resync timer set to an hour, an EtcdCluster (member probing
off, as in the local environment; the local volume provisioner binding the
data claims) still reaches Ready=True within seconds of its StatefulSet's pods
being ready: the operator's watch on its StatefulSets touches the
EtcdCluster's ``g8s.io/children`` annotation (shared.owners), which kopf turns
into a reconcile. Once Ready, the EtcdCluster is not written again. The
operator runs as a process against the local environment's API server.
"""

import json
import time
from pathlib import Path
from typing import Any

from tests.localenv import LocalEnv
from tests.localenv import get_json as _get
from tests.objects import etcd_tls_secrets
from tests.operators import is_ready, running_operator, settled, wait_for
from tests.volumes import running_provisioner

# Far beyond the test's own timeout: only the StatefulSet watch can make it Ready.
RESYNC_SECONDS = "3600"
READY_TIMEOUT = 60.0
AT_REST_SECONDS = 5.0
NAME = "wake"


def ready_cluster(env: LocalEnv, namespace: str) -> dict[str, Any] | None:
    body = _get(env, namespace, "etcdcluster", NAME)
    return body if is_ready(body) else None


def test_statefulset_readiness_wakes_the_etcdcluster(
    local_env: LocalEnv, crds: Path, namespace: str, tmp_path: Path
) -> None:
    settings = {**local_env.env(), "G8S_ETCD_INTERVAL": RESYNC_SECONDS}
    body = {
        "apiVersion": "g8s.io/v1alpha1",
        "kind": "EtcdCluster",
        "metadata": {"name": NAME, "namespace": namespace},
        "spec": {
            "replicas": 1,
            "tls": {
                "serverSecretName": f"{NAME}-etcd-server",
                "peerSecretName": f"{NAME}-etcd-peer",
                "clientSecretName": f"{NAME}-etcd-client",
            },
        },
    }
    with (
        running_provisioner(local_env, tmp_path),
        running_operator("etcd", env=settings, namespace=namespace, log_dir=tmp_path) as etcd,
    ):
        for secret in etcd_tls_secrets(NAME, namespace):
            local_env.kubectl("apply", "-f", "-", input=json.dumps(secret))
        local_env.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(body))
        try:
            ready = wait_for(
                lambda: ready_cluster(local_env, namespace),
                timeout=READY_TIMEOUT,
                what=f"EtcdCluster {NAME} Ready",
            )
        except TimeoutError:
            print(f"===== etcd log (tail) =====\n{etcd.log()[-6000:]}")
            raise
        statefulset = _get(local_env, namespace, "statefulset", f"{NAME}-etcd")
        assert statefulset["status"]["readyReplicas"] == 1
        token = ready["metadata"]["annotations"]["g8s.io/children"]
        assert token.startswith(f"StatefulSet/{NAME}-etcd/1/")

        # The last reconcile's own writes land, then nothing more may come.
        before = settled(
            lambda: _get(local_env, namespace, "etcdcluster", NAME)["metadata"]["resourceVersion"],
            quiet=2.0,
            timeout=30.0,
            what=f"etcdcluster {NAME}",
        )
        time.sleep(AT_REST_SECONDS)
        after = _get(local_env, namespace, "etcdcluster", NAME)["metadata"]["resourceVersion"]
        assert after == before, json.dumps(_get(local_env, namespace, "etcdcluster", NAME))[:2000]
        local_env.kubectl("delete", "etcdcluster", NAME, "-n", namespace, "--timeout=60s")
