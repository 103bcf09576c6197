"""The child watch: a child's change touches its Cluster's annotation once, never again.

Runs ``notify_owner`` with the in-memory Kubernetes stand-in; no kopf loop.
"""

import asyncio
from typing import Any

from operators.cluster.context import ClusterContext
from operators.cluster.handlers import notify_owner
from shared.api.labels import CHILDREN_ANNOTATION
from shared.identity import OperatorIdentity
from shared.metrics import OperatorMetrics
from shared.settings import RuntimeSettings
from tests.unit.cluster.helpers import FakeKube, cluster_body, ready


def context(kube: FakeKube) -> ClusterContext:
    return ClusterContext(
        identity=OperatorIdentity("cluster"),
        runtime=RuntimeSettings(),
        metrics=OperatorMetrics("cluster-test"),
        kube=kube.as_kube(),
        pause_kube=kube.as_kube(),
    )


def child(status: str) -> dict[str, Any]:
    ref = {"kind": "Cluster", "apiVersion": "g8s.io/v1alpha1", "name": "c1"}
    return {
        "kind": "EtcdCluster",
        "metadata": {"name": "c1", "namespace": "ns", "generation": 1, "ownerReferences": [ref]},
        "status": ready(status),
    }


class CountingKube(FakeKube):
    patches = 0

    def patch(self, ref: Any, body: Any) -> dict[str, Any]:
        self.patches += 1
        return super().patch(ref, body)


def annotation(kube: FakeKube) -> str:
    return str(kube.of("Cluster")[0]["metadata"]["annotations"][CHILDREN_ANNOTATION])


def test_child_change_touches_the_cluster_once() -> None:
    kube = CountingKube()
    kube.add({**cluster_body(), "metadata": {**cluster_body()["metadata"]}})
    ctx = context(kube)
    asyncio.run(notify_owner(ctx, child("False"), deleted=False))
    first = annotation(kube)
    asyncio.run(notify_owner(ctx, child("False"), deleted=False))
    assert kube.patches == 1
    asyncio.run(notify_owner(ctx, child("True"), deleted=False))
    assert kube.patches == 2
    assert annotation(kube) != first
    asyncio.run(notify_owner(ctx, child("True"), deleted=True))
    assert annotation(kube).startswith("deleted/")


def test_child_of_a_gone_cluster_is_ignored() -> None:
    kube = CountingKube()
    asyncio.run(notify_owner(context(kube), child("True"), deleted=False))
    assert kube.patches == 1
    orphan = child("True")
    orphan["metadata"]["ownerReferences"] = []
    asyncio.run(notify_owner(context(kube), orphan, deleted=False))
    assert kube.patches == 1
