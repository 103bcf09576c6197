"""``g8s plan``: the operator's own steps against dry-run writes (operators.cluster.plan).

Covered: a new Cluster plans the creation of every child it gets first, and
nothing is written; a Ready cluster scaled from 2 to 3 workers plans the
Cluster's change (a diff of the replicas) and one new worker KVMNode, and no
other write; Secret data never appears in a plan; a manifest must hold
exactly one Cluster. The dry runs are an in-memory stand-in that stores
nothing; tests/integration/test_cli.py runs a plan against the real API server.
"""

import copy
from collections.abc import Mapping
from typing import Any, cast

import pytest
import yaml

from operators.cluster import plan as planning
from shared.kube import Kube
from tests.unit.cluster.helpers import FakeKube, cluster_body
from tests.unit.cluster.test_reconcile import mark_ready, run_all


class DryFake(FakeKube):
    """FakeKube whose dry runs return what would be stored, and store nothing."""

    def apply(
        self,
        obj: Mapping[str, Any],
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        current: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        if not dry_run:
            return super().apply(obj, subresource=subresource)
        kept = copy.deepcopy(self.objects)
        result = super().apply(obj, subresource=subresource)
        self.objects = kept
        return result

    def create(self, obj: Mapping[str, Any], *, dry_run: bool = False) -> dict[str, Any]:
        kept = copy.deepcopy(self.objects)
        result = super().create(obj)
        if dry_run:
            self.objects = kept
        return result


def manifest(**spec: Any) -> dict[str, Any]:
    body = cluster_body(**spec)
    del body["metadata"]["uid"], body["metadata"]["generation"]
    return body


def test_a_new_cluster_plans_its_first_children_and_writes_nothing() -> None:
    kube = DryFake()
    result = planning.plan(cast(Kube, kube), manifest())
    made = {(c.verb, c.kind) for c in result.changes}
    assert ("create", "Cluster") in made
    for kind in ("Certificate", "EtcdCluster", "ClusterNetwork", "Secret", "Service"):
        assert ("create", kind) in made, kind
    assert all(c.verb == "create" for c in result.changes)
    assert kube.objects == {}


def test_scaling_a_ready_cluster_plans_one_worker_and_the_spec_change() -> None:
    kube = DryFake()
    body = cluster_body(workers={"replicas": 2})
    kube.add(body)
    run_all(kube, body)
    mark_ready(kube, "KVMNode")
    run_all(kube, body)
    for kind in ("Certificate", "EtcdCluster", "ClusterNetwork", "KVMNode"):
        mark_ready(kube, kind)
    stored = copy.deepcopy(kube.objects)

    result = planning.plan(cast(Kube, kube), manifest(workers={"replicas": 3}))

    lines = [c.line() for c in result.changes]
    assert lines[0] == "change Cluster c1"
    assert "-    replicas: 2" in result.changes[0].diff
    assert "+    replicas: 3" in result.changes[0].diff
    new_nodes = [c for c in result.changes if c.kind == "KVMNode"]
    assert [c.verb for c in new_nodes] == ["create"]
    assert [c for c in result.changes if c.kind not in ("Cluster", "KVMNode")] == []
    assert kube.objects == stored


def test_secret_data_never_appears() -> None:
    secret: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "ns", "uid": "u"},
        "data": {"tls.key": "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t"},
    }
    shown = planning.comparable(secret)
    assert shown["data"] == {"tls.key": planning.HIDDEN}
    changed = copy.deepcopy(secret)
    changed["data"]["tls.key"] = "b3RoZXI="
    assert planning.difference(secret, changed) is None


def test_a_manifest_holds_exactly_one_cluster() -> None:
    one = yaml.safe_dump(manifest())
    assert planning.load(one)["metadata"]["name"] == "c1"
    with pytest.raises(ValueError, match="2 Clusters"):
        planning.load(one + "---\n" + one)
    with pytest.raises(ValueError, match="0 Clusters"):
        planning.load("kind: ConfigMap\nmetadata: {name: x}\n")


def test_a_plan_reads_as_lines() -> None:
    result = planning.Plan(
        [planning.Change("change", "Cluster", "c1", ("-  a: 1", "+  a: 2"))], waits="nodes: x"
    )
    assert result.lines() == [
        "change Cluster c1",
        "    -  a: 1",
        "    +  a: 2",
        "then the operator waits (nodes: x); later steps depend on it",
    ]
