"""KVMNode parsing: defaults, every field, durations, and bad input as InvalidSpec."""

import ipaddress

import pytest

from operators.kvm.model import parse
from shared.errors import InvalidSpec
from tests.unit.kvm.helpers import body


def test_defaults() -> None:
    spec = parse(body())
    assert spec.cluster == "demo"
    assert spec.role == "worker"
    assert spec.index == 1
    assert spec.network == "demo"
    assert spec.kubernetes_version == "1.34.4"
    assert (spec.cpus, spec.memory_mib, spec.disk_gib) == (2, 4096, 20)
    assert spec.service_cidr == ipaddress.IPv4Network("172.31.0.0/16")
    assert spec.pod_cidr == ipaddress.IPv4Network("10.2.0.0/16")
    assert spec.api_endpoint == ""
    assert spec.drain_timeout == 300.0
    assert not spec.is_controlplane


def test_given_fields() -> None:
    spec = parse(
        body(
            "controlplane",
            cpus=4,
            memoryMiB=8192,
            diskGiB=50,
            drainTimeout="1h30m",
            apiEndpoint="https://a:6443",
        )
    )
    assert spec.is_controlplane
    assert (spec.cpus, spec.memory_mib, spec.disk_gib) == (4, 8192, 50)
    assert spec.drain_timeout == 5400.0
    assert spec.api_endpoint == "https://a:6443"


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("role", "master", "spec.role"),
        ("index", -1, "spec.index"),
        ("cpus", "two", "spec.cpus"),
        ("serviceCIDR", "nope", "spec.serviceCIDR"),
        ("apiEndpoint", "http://x", "spec.apiEndpoint"),
        ("drainTimeout", "forever", "spec.drainTimeout"),
    ],
)
def test_bad_input_names_the_field(field: str, value: object, match: str) -> None:
    bad = body()
    bad["spec"][field] = value
    with pytest.raises(InvalidSpec, match=match):
        parse(bad)
