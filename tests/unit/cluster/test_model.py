"""Parsing a Cluster: CRD defaults mirrored, bad values rejected with the field named."""

import pytest

from operators.cluster.model import parse
from shared.errors import InvalidSpec
from tests.unit.cluster.helpers import cluster_body


def test_defaults_match_the_crd() -> None:
    spec = parse(cluster_body())
    assert spec.kubernetes_version == "1.34.4"
    assert spec.control_plane.replicas == 1
    assert spec.workers.replicas == 2
    assert spec.workers.disk_gib == 40
    assert (spec.max_surge, spec.max_unavailable) == (1, 0)
    assert spec.service_cidr == "172.31.0.0/16"
    assert spec.paused is False
    assert spec.ref.uid == "uid-c1"


def test_values_are_read() -> None:
    spec = parse(cluster_body(workers={"replicas": 4, "cpus": 3}, paused=True))
    assert spec.workers.replicas == 4
    assert spec.workers.cpus == 3
    assert spec.paused is True


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"workers": {"replicas": -1}}, "spec.workers.replicas"),
        ({"rollout": {"maxSurge": 0, "maxUnavailable": 0}}, "spec.rollout"),
        ({"etcd": {"replicas": 7}}, "spec.etcd.replicas"),
        ({"baseDomain": ""}, "spec.baseDomain"),
    ],
)
def test_bad_values_name_the_field(spec: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidSpec) as raised:
        parse(cluster_body(**spec))
    assert field in str(raised.value)


def test_too_long_name_is_rejected() -> None:
    body = cluster_body()
    body["metadata"]["name"] = "x" * 37
    with pytest.raises(InvalidSpec):
        parse(body)
