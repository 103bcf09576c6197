"""The child watch: a child's change touches its Cluster's annotation once, never again.

Runs ``notify_owner`` with the in-memory Kubernetes stand-in; no kopf loop.
Also: a pause that fails is reported to the reconcile handler, not raised.
"""

import asyncio
from typing import Any, cast

import kopf

from operators.cluster.context import ClusterContext
from operators.cluster.handlers import notify_owner, pause_children
from shared.api.labels import CHILDREN_ANNOTATION
from shared.errors import ApiError
from shared.identity import OperatorIdentity
from shared.metrics import OperatorMetrics
from shared.settings import RuntimeSettings
from tests.unit.cluster.helpers import FakeKube, cluster_body, ready
from tests.unit.cluster.test_reconcile import run_initialized


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


class RefusingApply(FakeKube):
    refusing = False

    def apply(self, obj: Any, **kwargs: Any) -> dict[str, Any]:
        if self.refusing:
            raise ApiError(504, "Timeout", "request did not complete within the allotted timeout")
        return super().apply(obj, **kwargs)


def test_a_failed_pause_is_reported_not_raised_so_the_reconcile_still_runs() -> None:
    kube = RefusingApply()
    run_initialized(kube, cluster_body())
    kube.refusing = True
    ctx = context(kube)
    paused = cluster_body()
    paused["spec"] = {**paused["spec"], "paused": True}
    failed = asyncio.run(pause_children(cast(kopf.Body, paused), ctx))
    assert failed == "request did not complete within the allotted timeout"
    # Nothing to change: no failure.
    assert asyncio.run(pause_children(cast(kopf.Body, cluster_body()), ctx)) is None
