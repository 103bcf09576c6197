"""The etcd operator's objects on the real kube-apiserver (the local environment).

Covers: a reconciliation of a real EtcdCluster (member probing off, as in
the local environment) through the kit and the Kubernetes adapter applies
the members ConfigMap, both Services, the PDB and the StatefulSet, which the
API server accepts and reads back with the fields the builders set and an
owner reference to the EtcdCluster; the status the reconciliation computed
is accepted by the CRD's status schema and reads back unpruned; a second
reconciliation changes nothing (server-side apply is idempotent).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from operators.etcd import handlers
from operators.etcd.context import EtcdContext, EtcdSettings
from operators.etcd.model import DEFAULT_VERSION
from shared.handling import reconcile
from shared.identity import OperatorIdentity
from shared.kube import Kube, ObjectRef, connect
from shared.metrics import OperatorMetrics
from shared.settings import RuntimeSettings
from tests.localenv import LocalEnv
from tests.localenv import get_json as _get
from tests.objects import etcd_tls_secrets


def test_children_apply_and_status_is_accepted(
    local_env: LocalEnv, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = {
        "apiVersion": "g8s.io/v1alpha1",
        "kind": "EtcdCluster",
        "metadata": {"name": "demo", "namespace": namespace},
        "spec": {
            "replicas": 3,
            "tls": {
                "serverSecretName": "demo-etcd-server",
                "peerSecretName": "demo-etcd-peer",
                "clientSecretName": "demo-etcd-client",
            },
        },
    }
    for secret in etcd_tls_secrets("demo", namespace):
        local_env.kubectl("apply", "-f", "-", input=json.dumps(secret))
    local_env.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(cluster))
    body = _get(local_env, namespace, "etcdcluster", "demo")

    monkeypatch.setenv("KUBECONFIG", str(local_env.kubeconfig))
    kube = Kube(connect(), "g8s-etcd")
    ctx = EtcdContext(
        identity=OperatorIdentity("etcd"),
        runtime=RuntimeSettings(),
        metrics=OperatorMetrics("etcd"),
        clock=lambda: datetime.now(UTC),
        settings=EtcdSettings(probe_members=False, image="registry.k8s.io/etcd:{version}-0"),
        kube=kube,
    )
    patch: dict[str, Any] = {}
    asyncio.run(reconcile(handlers.reconciler(ctx), body=body, patch=patch, ctx=ctx, retry=0))

    uid = body["metadata"]["uid"]
    sts = _get(local_env, namespace, "statefulset", "demo-etcd")
    assert sts["metadata"]["ownerReferences"][0]["uid"] == uid
    assert sts["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "g8s-etcd"
    assert sts["spec"]["replicas"] == 3
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"] == {
        "storage": "10Gi"
    }
    container = sts["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"registry.k8s.io/etcd:{DEFAULT_VERSION}-0"
    assert container["resources"]["requests"] == {"cpu": "200m", "memory": "512Mi"}

    peer = _get(local_env, namespace, "service", "demo-etcd-peer")
    assert peer["spec"]["clusterIP"] == "None"
    assert peer["spec"]["publishNotReadyAddresses"] is True
    client = _get(local_env, namespace, "service", "demo-etcd")
    assert client["spec"]["ports"][0]["port"] == 2379
    assert client["spec"]["clusterIP"] not in ("", "None")
    budget = _get(local_env, namespace, "poddisruptionbudget", "demo-etcd")
    assert budget["spec"]["maxUnavailable"] == 1
    members = _get(local_env, namespace, "configmap", "demo-etcd-members")
    assert members["data"]["initial-cluster-state"] == "new"
    assert members["metadata"]["ownerReferences"][0]["uid"] == uid

    # The status the run computed fits the CRD's status schema (nothing pruned).
    status = patch["status"]
    status["members"] = [
        {"name": "demo-etcd-0", "id": "a1", "leader": True, "learner": False, "healthy": True},
        {
            "name": "demo-etcd-1",
            "id": "b2",
            "leader": False,
            "learner": False,
            "healthy": False,
            "unhealthySince": "2026-05-01T00:00:00Z",
        },
    ]
    status["bootstrapped"] = True
    status["lastBackupRequest"] = "now-1"
    status["lastBackup"] = {
        "time": "2026-05-01T00:00:00Z",
        "revision": 42,
        "size": 20480,
        "location": f"{namespace}/demo/20260501T000000Z.db",
        "checksum": "a" * 64,
    }
    ref = ObjectRef("g8s.io/v1alpha1", "EtcdCluster", "demo", namespace)
    kube.patch_status(ref, status)
    stored = _get(local_env, namespace, "etcdcluster", "demo")["status"]
    assert stored["conditions"][0]["type"] == "Ready"
    assert {c["type"] for c in stored["conditions"]} >= {"Ready", "MembersHealthy", "BackupReady"}
    assert stored["phase"] == patch["status"]["phase"]
    assert stored["members"] == status["members"]
    assert stored["bootstrapped"] is True
    assert stored["lastBackupRequest"] == "now-1"
    assert stored["lastBackup"] == status["lastBackup"]

    # Reconciling again is a no-op for the StatefulSet.
    generation = sts["metadata"]["generation"]
    body = _get(local_env, namespace, "etcdcluster", "demo")
    asyncio.run(reconcile(handlers.reconciler(ctx), body=body, patch={}, ctx=ctx, retry=0))
    again = _get(local_env, namespace, "statefulset", "demo-etcd")
    assert again["metadata"]["generation"] == generation
