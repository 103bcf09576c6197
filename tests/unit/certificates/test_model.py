"""parse(): defaults, durations, and rejection of what the CRD might let through."""

from typing import Any

import pytest

from operators.certificates.model import parse, seconds
from shared.errors import InvalidSpec
from tests.unit.certificates.fakes import certificate_body


def test_defaults(body: dict[str, Any]) -> None:
    spec = parse(body)
    assert spec.ttl == "15552000s"
    assert spec.ttl_seconds == 4320 * 3600
    assert spec.renew_before_seconds == 720 * 3600
    assert spec.key_algorithm == "ECDSAP256"
    assert spec.cluster_domain == "cluster.local"
    assert spec.profile.common_name == "kube-apiserver"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90s", 90), ("1h30m", 5400), ("2m", 120), ("1.5h", 5400), ("1500ms", 1), ("4320h", 15552000)],
)
def test_durations(text: str, expected: int) -> None:
    assert seconds(text, "f") == expected


@pytest.mark.parametrize("text", ["", "h", "10d", "-1h", "1h 2m", "abc"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(InvalidSpec, match="duration"):
        seconds(text, "spec.ttl")


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"component": "nope"}, "spec.component"),
        ({"ttl": "10d"}, "spec.ttl"),
        ({"ttl": "0s"}, "spec.ttl"),
        ({"serviceCIDR": "not-a-cidr"}, "spec.serviceCIDR"),
        ({"ipAddresses": ["1.2.3.999"]}, "spec.ipAddresses"),
        ({"keyAlgorithm": "DSA"}, "spec.keyAlgorithm"),
        ({"cluster": ""}, "spec.cluster"),
    ],
)
def test_invalid_fields_are_named(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidSpec) as caught:
        parse(certificate_body(**spec))
    assert caught.value.field == field


def test_stated_subject_replaces_the_catalogue() -> None:
    spec = parse(
        certificate_body(
            commonName="custom",
            organizations=[],
            dnsNames=["x.c1.example.org", "x.c1.example.org"],
            ipAddresses=["10.0.0.9"],
        )
    )
    profile = spec.profile
    assert profile.common_name == "custom"
    assert profile.organizations == ()
    assert profile.dns_names == ("x.c1.example.org",)
    assert profile.ip_addresses == ("10.0.0.9",)
    assert profile.server  # usages always come from the catalogue


def test_catalogue_subject_without_base_domain() -> None:
    body = certificate_body()
    del body["spec"]["baseDomain"]
    del body["spec"]["serviceCIDR"]
    profile = parse(body).profile
    assert "kubernetes.default.svc" in profile.dns_names
    assert not any(name.startswith("api.") for name in profile.dns_names)
    assert profile.ip_addresses == ("127.0.0.1",)


def test_a_node_certificate_is_the_kubelet_identity_of_its_node() -> None:
    spec = parse(certificate_body(component="node", node="c1-w-abcde"))
    assert spec.profile.common_name == "system:node:c1-w-abcde"
    assert spec.profile.organizations == ("system:nodes",)
    assert spec.profile.client
    assert spec.profile.server
    assert spec.secret_name == "c1-w-abcde-kubelet"
    # One role per node: a node's role can never sign another node's name.
    assert spec.role == "node-c1-w-abcde"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"component": "node"}, "required for component node"),
        ({"component": "api", "node": "c1-w-abcde"}, "only for it"),
        ({"component": "node", "node": "c2-w-abcde"}, "not a node of cluster c1"),
    ],
)
def test_node_field_mismatches_are_rejected(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpec, match=message) as caught:
        parse(certificate_body(**spec))
    assert caught.value.field == "spec.node"
