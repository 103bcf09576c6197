"""Two replicas of one operator never both act: kopf peering, as the charts set it up.

With kopf's peering CRDs the charts install (``crds/kopf-peering.yaml`` of
the g8s-common library chart) and the peering object the chart renders for a
namespaced operator (``KopfPeering`` ``g8s-etcd`` in the watched namespace),
two processes of the etcd operator run together with ``G8S_PEERING=true``,
each with a metrics endpoint of its own. Covered: both join the peering
object; of several EtcdClusters applied then, every one is reconciled, all
by the same process (the other's reconciliation counter stays at zero); when
the active process is stopped (SIGTERM) it leaves the peering object, the
other takes over and reconciles a new EtcdCluster.
"""

from __future__ import annotations

import contextlib
import functools
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.integration.charts import serviceaccount as sa
from tests.localenv import LocalEnv, free_port
from tests.localenv import get_json as get
from tests.operators import RunningOperator, running_operator, wait_for

OPERATOR = "etcd"
PEERING = f"g8s-{OPERATOR}"
TIMEOUT = 90.0


def etcd_cluster(name: str, namespace: str) -> str:
    return json.dumps(
        {
            "apiVersion": "g8s.io/v1alpha1",
            "kind": "EtcdCluster",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "replicas": 1,
                "tls": {
                    "serverSecretName": f"{name}-etcd-server",
                    "peerSecretName": f"{name}-etcd-peer",
                    "clientSecretName": f"{name}-etcd-client",
                },
            },
        }
    )


def peers(env: LocalEnv, namespace: str) -> dict[str, Any]:
    """The processes in the peering object's status (kopf's keep-alives)."""
    return dict(get(env, namespace, "kopfpeerings.kopf.dev", PEERING).get("status") or {})


def observed(env: LocalEnv, namespace: str, name: str) -> bool:
    obj = get(env, namespace, "etcdclusters.g8s.io", name)
    status = obj.get("status") or {}
    return bool(status.get("observedGeneration") == obj["metadata"]["generation"])


@contextlib.contextmanager
def replica(env: LocalEnv, namespace: str, log_dir: Path, port: int) -> Iterator[RunningOperator]:
    log_dir.mkdir()
    settings = {
        **env.env(),
        "G8S_PEERING": "true",
        "G8S_METRICS_PORT": str(port),
        "G8S_METRICS_ADDRESS": "127.0.0.1",
    }
    with running_operator(OPERATOR, env=settings, namespace=namespace, log_dir=log_dir) as op:
        try:
            yield op
        except BaseException:
            print(f"===== {log_dir.name} log (tail) =====\n{op.log()[-6000:]}")
            raise


def test_one_replica_acts_and_the_other_takes_over(
    local_env: LocalEnv, namespace: str, tmp_path: Path
) -> None:
    sa.peering_crds(local_env)
    manifest = sa.render(OPERATOR, f"--set=namespaces={{{namespace}}}")
    objects = sa.peering(manifest)
    assert [(o["kind"], o["metadata"]["name"], o["metadata"]["namespace"]) for o in objects] == [
        ("KopfPeering", PEERING, namespace)
    ]
    deployment = sa.find(manifest, "Deployment", PEERING)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "G8S_PEERING", "value": "true"} in container["env"]
    sa.apply(local_env, objects)

    ports = {"a": free_port(), "b": free_port()}
    with contextlib.ExitStack() as stack:
        running = {
            key: stack.enter_context(replica(local_env, namespace, tmp_path / key, port))
            for key, port in ports.items()
        }
        # Both processes have joined: each sees the other from now on.
        wait_for(
            lambda: len(peers(local_env, namespace)) == 2,
            timeout=TIMEOUT,
            what="both replicas in the peering object",
        )
        names = [f"e{index}" for index in range(3)]
        for name in names:
            local_env.kubectl("apply", "-f", "-", input=etcd_cluster(name, namespace))
        for name in names:
            wait_for(
                functools.partial(observed, local_env, namespace, name),
                timeout=TIMEOUT,
                what=f"EtcdCluster {name} reconciled",
            )
        counts = {key: sa.reconciliations(port) for key, port in ports.items()}
        active = max(counts, key=lambda key: counts[key])
        standby = "b" if active == "a" else "a"
        assert counts[active] >= len(names), counts
        assert counts[standby] == 0, counts

        running[active].process.send_signal(signal.SIGTERM)
        running[active].process.wait(timeout=30)
        assert running[active].process.returncode == 0, running[active].log()[-3000:]
        # It said goodbye: only the standby is left in the peering object.
        wait_for(
            lambda: len(peers(local_env, namespace)) == 1,
            timeout=TIMEOUT,
            what="the stopped replica gone from the peering object",
        )
        local_env.kubectl("apply", "-f", "-", input=etcd_cluster("late", namespace))
        wait_for(
            lambda: observed(local_env, namespace, "late"),
            timeout=TIMEOUT,
            what="EtcdCluster late reconciled by the standby",
        )
        assert sa.reconciliations(ports[standby]) > 0
        assert running[standby].process.poll() is None

        # The operator's finalizers would keep the namespace from going away.
        local_env.kubectl(
            "delete", "etcdclusters.g8s.io", "--all", "-n", namespace, "--timeout=60s"
        )
