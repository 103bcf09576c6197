"""The kvm operator's reconciliation on the real kube-apiserver (the local environment).

Covers: a real KVMNode (with its ClusterNetwork's status and the certificate
Secrets in place) reconciled through the kit and the Kubernetes adapter
applies Secret ``<node>-ignition``, PVC ``<node>-disk`` and Deployment
``<node>``, which the API server accepts and reads back with the fields the
builders set, the standard labels and an owner reference to the KVMNode;
no ConfigMap is written; the status is accepted by the CRD. Before the
ClusterNetwork has an address the run reports ``NetworkNotReady``. With a
volume for the disk, the Deployment's simulated pod (kwok) runs, and the
next reconciliation reports VMRunning, podName and hostNode (guest checks
off, so NodeReady comes from the host pod: reason HostPodReady).
"""

import asyncio
import contextlib
import json
import time
from base64 import b64decode, b64encode
from datetime import UTC, datetime
from typing import Any

import kopf
import pytest

from operators.kvm import handlers
from operators.kvm.children import ignition
from operators.kvm.context import KVMContext, KVMSettings
from shared.handling import reconcile
from shared.identity import OperatorIdentity
from shared.kube import Kube, connect
from shared.metrics import OperatorMetrics
from shared.settings import RuntimeSettings
from tests import hostnode
from tests.localenv import LocalEnv
from tests.localenv import get_json as _get

NODE = "demo-w-abcde"
POD_TIMEOUT = 90.0


def _apply(local_env: LocalEnv, obj: dict[str, Any]) -> None:
    local_env.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(obj))


def _b64(text: str) -> str:
    return b64encode(text.encode()).decode()


def _secrets(local_env: LocalEnv, namespace: str) -> None:
    _apply(
        local_env,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "demo-ca", "namespace": namespace},
            "data": {"ca.crt": _b64("CA PEM")},
        },
    )
    _apply(
        local_env,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{NODE}-kubelet", "namespace": namespace},
            "data": {"tls.crt": _b64("CERT"), "tls.key": _b64("KEY"), "ca.crt": _b64("CA PEM")},
        },
    )
    # The etcd client Service and the API's, whose ClusterIPs go into the
    # guest's /etc/hosts.
    for name, port in (("demo-etcd", 2379), ("demo-apiserver", 6443)):
        _apply(
            local_env,
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"ports": [{"name": "client", "port": port}]},
            },
        )


def _network(local_env: LocalEnv, namespace: str) -> None:
    _apply(
        local_env,
        {
            "apiVersion": "g8s.io/v1alpha1",
            "kind": "ClusterNetwork",
            "metadata": {"name": "demo", "namespace": namespace},
            "spec": {"mtu": 1450},
        },
    )
    status = {"status": {"subnet": "10.100.3.0/24", "gateway": "10.100.3.1", "bridge": "g8s-br-7"}}
    local_env.kubectl(
        "patch",
        "-n",
        namespace,
        "clusternetwork",
        "demo",
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(status),
    )


def _context(local_env: LocalEnv, monkeypatch: pytest.MonkeyPatch) -> KVMContext:
    monkeypatch.setenv("KUBECONFIG", str(local_env.kubeconfig))
    return KVMContext(
        identity=OperatorIdentity("kvm"),
        runtime=RuntimeSettings(),
        metrics=OperatorMetrics("kvm"),
        clock=lambda: datetime.now(UTC),
        settings=KVMSettings(guest_checks=False, launcher_image="launcher:test"),
        kube=Kube(connect(), "g8s-kvm"),
    )


def _reconcile(local_env: LocalEnv, namespace: str, ctx: KVMContext) -> dict[str, Any]:
    body = _get(local_env, namespace, "kvmnode", NODE)
    patch: dict[str, Any] = {}
    # A TemporaryError only asks for a retry; the status says why, and the test reads it.
    with contextlib.suppress(kopf.TemporaryError):
        asyncio.run(reconcile(handlers.reconciler(ctx), body=body, patch=patch, ctx=ctx, retry=0))
    local_env.kubectl(
        "patch",
        "-n",
        namespace,
        "kvmnode",
        NODE,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": patch["status"]}),
    )
    return dict(_get(local_env, namespace, "kvmnode", NODE)["status"])


def _conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def _bind_disk(local_env: LocalEnv, namespace: str) -> None:
    """A local volume on one simulated host, pre-bound to the node's claim."""
    simulated = f"{hostnode.HOST_LABEL}!={hostnode.HOST_LABEL_VALUE}"
    nodes = local_env.kubectl("get", "nodes", "-l", simulated, "-o", "json").stdout
    host = json.loads(nodes)["items"][0]
    hostname = host["metadata"]["name"]
    _apply(
        local_env,
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": f"{namespace}-disk"},
            "spec": {
                "capacity": {"storage": "20Gi"},
                "accessModes": ["ReadWriteOnce"],
                "volumeMode": "Filesystem",
                "persistentVolumeReclaimPolicy": "Delete",
                "claimRef": {"namespace": namespace, "name": f"{NODE}-disk"},
                # Nothing mounts it: kwok only simulates the pod.
                "local": {"path": f"/var/lib/g8s-test/{namespace}"},
                "nodeAffinity": {
                    "required": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {
                                        "key": "kubernetes.io/hostname",
                                        "operator": "In",
                                        "values": [hostname],
                                    }
                                ]
                            }
                        ]
                    }
                },
            },
        },
    )


def test_children_apply_and_node_runs(
    local_env: LocalEnv, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _apply(
        local_env,
        {
            "apiVersion": "g8s.io/v1alpha1",
            "kind": "KVMNode",
            "metadata": {"name": NODE, "namespace": namespace},
            "spec": {"cluster": "demo", "role": "worker", "index": 3, "network": "demo"},
        },
    )
    ctx = _context(local_env, monkeypatch)

    waiting = _reconcile(local_env, namespace, ctx)
    assert _conditions(waiting)["Ready"]["reason"] == "NetworkNotReady"
    assert waiting["phase"] == "Provisioning"

    _network(local_env, namespace)
    _secrets(local_env, namespace)
    status = _reconcile(local_env, namespace, ctx)
    assert status["ipAddress"] == "10.100.3.53"
    assert status["observedGeneration"] == 1
    assert _conditions(status)["VMRunning"]["status"] == "False"

    uid = _get(local_env, namespace, "kvmnode", NODE)["metadata"]["uid"]
    secret = _get(local_env, namespace, "secret", f"{NODE}-ignition")
    config = json.loads(b64decode(secret["data"]["config.ign"]))
    assert config["ignition"]["version"] == ignition.IGNITION_VERSION
    paths = {f["path"] for f in config["storage"]["files"]}
    # Certificates and keys are the share's live files, not in the boot config.
    assert not any(p.startswith(ignition.PKI) for p in paths)
    kubelet_key = _get(local_env, namespace, "secret", f"{NODE}-kubelet")["data"]["tls.key"]
    assert secret["data"]["pki_kubelet_tls.key"] == kubelet_key
    etcd_ip = _get(local_env, namespace, "service", "demo-etcd")["spec"]["clusterIP"]
    hosts = next(f for f in config["storage"]["files"] if f["path"] == "/etc/hosts")
    hosts_text = b64decode(hosts["contents"]["source"].removeprefix("data:;base64,")).decode()
    assert f"{etcd_ip} demo-etcd.{namespace}.svc" in hosts_text.splitlines()
    api_ip = _get(local_env, namespace, "service", "demo-apiserver")["spec"]["clusterIP"]
    assert f"{api_ip} demo-apiserver.{namespace}.svc" in hosts_text.splitlines()
    identity = _get(local_env, namespace, "certificates.g8s.io", f"{NODE}-kubelet")
    assert identity["spec"]["node"] == NODE
    assert identity["spec"]["ipAddresses"] == ["10.100.3.53"]
    pvc = _get(local_env, namespace, "pvc", f"{NODE}-disk")
    assert pvc["spec"]["volumeMode"] == "Filesystem"
    deployment = _get(local_env, namespace, "deployment", NODE)
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    limits = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert limits["requests"] == limits["limits"] == {"cpu": "2250m", "memory": "4352Mi"}
    for child in (secret, pvc, deployment, identity):
        assert child["metadata"]["ownerReferences"][0]["uid"] == uid
        assert child["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "g8s-kvm"
        assert child["metadata"]["labels"]["g8s.io/cluster"] == "demo"
    configmaps = _get(local_env, namespace, "configmaps", "-l", "g8s.io/cluster=demo")
    assert configmaps["items"] == []

    _bind_disk(local_env, namespace)
    local_env.kubectl(
        "wait",
        "-n",
        namespace,
        "--for=condition=Ready",
        "pod",
        "-l",
        f"g8s.io/kvm-node={NODE}",
        f"--timeout={int(POD_TIMEOUT)}s",
    )
    deadline = time.monotonic() + POD_TIMEOUT
    while True:
        status = _reconcile(local_env, namespace, ctx)
        if _conditions(status)["VMRunning"]["status"] == "True" or time.monotonic() > deadline:
            break
        time.sleep(1)
    conditions = _conditions(status)
    assert conditions["VMRunning"]["status"] == "True"
    assert (conditions["NodeReady"]["status"], conditions["NodeReady"]["reason"]) == (
        "True",
        "HostPodReady",
    )
    assert status["phase"] in ("Running", "Ready")
    assert status["podName"].startswith(f"{NODE}-")
    assert status["hostNode"]
