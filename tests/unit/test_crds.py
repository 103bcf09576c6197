"""The CRDs under crds/ and the objects under examples/, read as files (no server).

Covers: one CRD per file, named after the CRD; group, version, kind, plural,
short name, category and scope as the API contract (shared.api) states; a
structural schema whose every property, at every depth, has a description
(so `kubectl explain` reads well) and a type; no preserve-unknown-fields;
every string, list and map a CEL rule reads is bounded (CEL cost); every rule
has a message; the status subresource; Ready, Phase-or-figure and Age printer
columns; the conditions in the Kubernetes shape; phases the kit writes;
the Cluster's defaults are docs/design.md#the-cluster-resource (examples/cluster.yaml); the name
limits match shared.api.names; the Certificate components are the catalogue's;
every example's kind has a CRD.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.api import API_VERSION, CATEGORY, GROUP, VERSION, kinds, names
from shared.api import certificates as catalogue
from shared.api import conditions as c

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "crds"
EXAMPLES = ROOT / "examples"

Schema = Mapping[str, Any]
KIND_IDS = [kind.kind for kind in kinds.ALL_KINDS]
# Properties the API server forbids describing: metadata may only restrict name.
UNDESCRIBED = {("metadata",)}


def load_crd(kind: kinds.Kind) -> dict[str, Any]:
    path = CRDS / f"{kind.crd_name}.yaml"
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert len(documents) == 1, f"{path.name}: one CRD per file"
    crd: dict[str, Any] = documents[0]
    return crd


def version_of(crd: Mapping[str, Any]) -> dict[str, Any]:
    versions = crd["spec"]["versions"]
    assert [v["name"] for v in versions] == [VERSION]
    version: dict[str, Any] = versions[0]
    return version


def schema_of(kind: kinds.Kind) -> dict[str, Any]:
    schema: dict[str, Any] = version_of(load_crd(kind))["schema"]["openAPIV3Schema"]
    return schema


def walk(schema: Schema, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Schema]]:
    """Every (path, schema) below ``schema``: properties by name, list items as ``[]``."""
    for name, child in (schema.get("properties") or {}).items():
        yield (*path, name), child
        yield from walk(child, (*path, name))
    if "items" in schema:
        yield (*path, "[]"), schema["items"]
        yield from walk(schema["items"], (*path, "[]"))


def dotted(path: tuple[str, ...]) -> str:
    return ".".join(path).replace(".[]", "[]")


def defaults(schema: Schema) -> Any:
    """What the API server's defaulting makes of an empty object of ``schema``."""
    if schema.get("type") != "object":
        return copy.deepcopy(schema.get("default"))
    if "default" not in schema:
        return None
    result = copy.deepcopy(schema["default"])
    for name, child in (schema.get("properties") or {}).items():
        value = defaults(child)
        if name not in result and value is not None:
            result[name] = value
    return result


def subschema(schema: Schema, dotted_path: str) -> Schema:
    node = schema
    for part in dotted_path.split("."):
        node = node["properties"][part]
    return node


def rules(schema: Schema) -> list[str]:
    return [v["rule"] for v in schema.get("x-kubernetes-validations") or []]


def all_files() -> list[str]:
    return sorted(p.name for p in CRDS.glob("*.yaml"))


# --- the CRD files ----------------------------------------------------------------


def test_one_file_per_kind_and_nothing_else() -> None:
    assert all_files() == sorted(f"{kind.crd_name}.yaml" for kind in kinds.ALL_KINDS)


@pytest.mark.parametrize("kind", kinds.ALL_KINDS, ids=KIND_IDS)
def test_names_match_the_api_contract(kind: kinds.Kind) -> None:
    crd = load_crd(kind)
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["kind"] == "CustomResourceDefinition"
    assert crd["metadata"]["name"] == kind.crd_name
    spec = crd["spec"]
    assert spec["group"] == GROUP
    assert spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": kind.kind,
        "listKind": f"{kind.kind}List",
        "plural": kind.plural,
        "singular": kind.kind.lower(),
        "shortNames": [kind.short_name],
        "categories": [CATEGORY],
    }
    version = version_of(crd)
    assert version["served"] is True
    assert version["storage"] is True


@pytest.mark.parametrize("kind", kinds.ALL_KINDS, ids=KIND_IDS)
def test_status_subresource(kind: kinds.Kind) -> None:
    assert version_of(load_crd(kind))["subresources"] == {"status": {}}


@pytest.mark.parametrize("kind", kinds.ALL_KINDS, ids=KIND_IDS)
def test_printer_columns(kind: kinds.Kind) -> None:
    columns = {col["name"]: col for col in version_of(load_crd(kind))["additionalPrinterColumns"]}
    assert columns["Ready"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
    assert columns["Phase"]["jsonPath"] == ".status.phase"
    assert columns["Age"] == {
        "name": "Age",
        "type": "date",
        "jsonPath": ".metadata.creationTimestamp",
    }
    assert next(iter(columns)) == "Ready"
    assert list(columns)[-1] == "Age"
    for column in columns.values():
        assert column["type"] in {"string", "integer", "number", "boolean", "date"}
        assert column["jsonPath"].startswith((".spec.", ".status.", ".metadata."))
        if column["name"] != "Age":
            assert column.get("description"), f"column {column['name']} has no description"


def test_cluster_columns_show_version_counts_and_endpoint() -> None:
    columns = {
        col["name"]: col["jsonPath"]
        for col in version_of(load_crd(kinds.CLUSTER))["additionalPrinterColumns"]
    }
    assert columns["Version"] == ".spec.kubernetesVersion"
    assert columns["CP-Ready"] == ".status.controlPlane.readyReplicas"
    assert columns["CP-Desired"] == ".spec.controlPlane.replicas"
    assert columns["Workers-Ready"] == ".status.workers.readyReplicas"
    assert columns["Workers-Desired"] == ".spec.workers.replicas"
    assert columns["Endpoint"] == ".status.endpoint"


@pytest.mark.parametrize("kind", kinds.ALL_KINDS, ids=KIND_IDS)
def test_every_column_path_exists_in_the_schema(kind: kinds.Kind) -> None:
    schema = schema_of(kind)
    known = {dotted(path) for path, _ in walk(schema)}
    for column in version_of(load_crd(kind))["additionalPrinterColumns"]:
        path = column["jsonPath"].lstrip(".")
        if path.startswith("metadata.") or path.startswith("status.conditions["):
            continue
        assert path in known, f"column {column['name']}: {path} is not in the schema"


# --- the schemas ------------------------------------------------------------------


@pytest.mark.parametrize("kind", kinds.ALL_KINDS, ids=KIND_IDS)
def test_every_property_has_a_description_and_a_type(kind: kinds.Kind) -> None:
    schema = schema_of(kind)
    assert str(schema.get("description", "")).strip()
    missing = []
    for path, sub in walk(schema):
        # int-or-string is the one structural exception to a type.
        typed = "type" in sub or sub.get("x-kubernetes-int-or-string") is True
        assert typed, f"{dotted(path)} has no type (structural schemas need one)"
        if path not in UNDESCRIBED and not str(sub.get("description", "")).strip():
            missing.append(dotted(path))
    assert not missing, f"properties without a description: {missing}"


@pytest.mark.parametrize("kind", kinds.ALL_KINDS, ids=KIND_IDS)
def test_spec_and_status_are_described_objects(kind: kinds.Kind) -> None:
    schema = schema_of(kind)
    assert schema["type"] == "object"
    for part in ("spec", "status"):
        assert schema["properties"][part]["type"] == "object"
        assert schema["properties"][part]["properties"], f"{part} has no fields"


@pytest.mark.parametrize("kind", kinds.ALL_KINDS, ids=KIND_IDS)
def test_no_unknown_fields_are_preserved(kind: kinds.Kind) -> None:
    text = (CRDS / f"{kind.crd_name}.yaml").read_text()
    assert "x-kubernetes-preserve-unknown-fields" not in text


@pytest.mark.parametrize("kind", kinds.ALL_KINDS, ids=KIND_IDS)
def test_every_rule_has_a_message_naming_a_field(kind: kinds.Kind) -> None:
    schema = schema_of(kind)
    for path, sub in [((), schema), *walk(schema)]:
        for validation in sub.get("x-kubernetes-validations") or []:
            message = validation.get("message") or validation.get("messageExpression")
            assert message, f"{dotted(path)}: rule {validation['rule']!r} has no message"
            assert "spec." in message or "metadata." in message, (
                f"{dotted(path)}: message {message!r} does not name the field"
            )
            if "fieldPath" in validation:
                assert validation["fieldPath"].startswith(".")


@pytest.mark.parametrize("kind", kinds.ALL_KINDS, ids=KIND_IDS)
def test_what_cel_reads_is_bounded(kind: kinds.Kind) -> None:
    """Unbounded strings and lists make the API server estimate a rule too costly."""
    schema = schema_of(kind)
    for path, sub in walk(schema):
        if sub.get("type") == "string" and sub.get("x-kubernetes-validations"):
            assert "maxLength" in sub or "enum" in sub, f"{dotted(path)} needs maxLength"
        if sub.get("type") == "array":
            assert "maxItems" in sub, f"{dotted(path)} needs maxItems"
        if sub.get("type") == "object" and sub.get("x-kubernetes-validations"):
            for name, child in (sub.get("properties") or {}).items():
                if child.get("type") == "string":
                    assert "maxLength" in child or "enum" in child, (
                        f"{dotted((*path, name))} is read by a rule and needs maxLength"
                    )


@pytest.mark.parametrize("kind", kinds.ALL_KINDS, ids=KIND_IDS)
def test_status_has_the_common_fields(kind: kinds.Kind) -> None:
    status = schema_of(kind)["properties"]["status"]["properties"]
    assert status["observedGeneration"]["type"] == "integer"
    phases = status["phase"]["enum"]
    # The kit writes Pending before the first reconcile and Failed for an invalid spec.
    assert {"Pending", "Failed"} <= set(phases)
    conditions = status["conditions"]
    assert conditions["type"] == "array"
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    item = conditions["items"]
    assert set(item["required"]) >= {"type", "status", "lastTransitionTime"}
    props = item["properties"]
    assert props["status"]["enum"] == [c.TRUE, c.FALSE, c.UNKNOWN]
    assert props["lastTransitionTime"]["format"] == "date-time"
    assert set(props) == {
        "type",
        "status",
        "reason",
        "message",
        "lastTransitionTime",
        "observedGeneration",
    }


def test_status_fields_each_kind_reports() -> None:
    def fields(kind: kinds.Kind) -> set[str]:
        return {dotted(p) for p, _ in walk(schema_of(kind)["properties"]["status"])}

    assert {
        "notBefore",
        "notAfter",
        "renewalTime",
        "serialNumber",
        "revision",
        "lastFailureTime",
        "failedAttempts",
    } <= fields(kinds.CERTIFICATE)
    assert {
        "members[].name",
        "members[].id",
        "members[].leader",
        "members[].learner",
        "members[].healthy",
        "readyReplicas",
        "lastBackup.time",
        "lastBackup.revision",
        "lastBackup.size",
        "lastBackup.location",
        "lastBackup.checksum",
    } <= fields(kinds.ETCD_CLUSTER)
    assert {"vni", "subnet", "gateway", "bridge", "hostsReady", "hostsTotal"} <= fields(
        kinds.CLUSTER_NETWORK
    )
    assert {"phase", "podName", "hostNode", "ipAddress"} <= fields(kinds.KVM_NODE)
    assert {
        "endpoint",
        "controlPlane.readyReplicas",
        "workers.readyReplicas",
    } <= fields(kinds.CLUSTER)


def test_cluster_phases_are_the_documented_ones() -> None:
    status = schema_of(kinds.CLUSTER)["properties"]["status"]["properties"]
    assert status["phase"]["enum"] == [
        "Pending",
        "Provisioning",
        "Provisioned",
        "Upgrading",
        "Deleting",
        "Failed",
    ]


def test_kvm_node_phases_are_its_life_cycle() -> None:
    status = schema_of(kinds.KVM_NODE)["properties"]["status"]["properties"]
    assert status["phase"]["enum"] == [
        "Pending",
        "Provisioning",
        "Running",
        "Ready",
        "Draining",
        "Deleting",
        "Failed",
    ]


# --- defaults and limits ---------------------------------------------------------


def test_cluster_defaults_are_the_example() -> None:
    """An empty spec defaults to examples/cluster.yaml but baseDomain.

    See docs/design.md#the-cluster-resource.
    """
    design = yaml.safe_load((EXAMPLES / "cluster.yaml").read_text())["spec"]
    spec_schema = schema_of(kinds.CLUSTER)["properties"]["spec"]
    filled = {name: defaults(child) for name, child in spec_schema["properties"].items()}
    filled = {name: value for name, value in filled.items() if value is not None}
    assert filled == {k: v for k, v in design.items() if k != "baseDomain"}


def test_base_domain_is_the_only_required_cluster_field() -> None:
    schema = schema_of(kinds.CLUSTER)
    assert schema["required"] == ["spec"]
    assert schema["properties"]["spec"]["required"] == ["baseDomain"]
    assert "default" not in schema["properties"]["spec"]["properties"]["baseDomain"]


@pytest.mark.parametrize(
    "kind", [kinds.CLUSTER, kinds.ETCD_CLUSTER, kinds.CLUSTER_NETWORK], ids=lambda k: k.kind
)
def test_name_limit_of_kinds_named_after_the_cluster(kind: kinds.Kind) -> None:
    assert f"self.metadata.name.size() <= {names.MAX_CLUSTER_NAME}" in rules(schema_of(kind))


@pytest.mark.parametrize("kind", [kinds.CERTIFICATE, kinds.KVM_NODE], ids=lambda k: k.kind)
def test_cluster_reference_fits_the_name_limit(kind: kinds.Kind) -> None:
    cluster = subschema(schema_of(kind), "spec.cluster")
    assert cluster["maxLength"] == names.MAX_CLUSTER_NAME


def test_kvm_node_name_limit_fits_the_longest_derived_node_name() -> None:
    longest = names.kvm_node("c" * names.MAX_CLUSTER_NAME, "controlplane", 999)
    limit = next(
        int(rule.rsplit("<=", 1)[1])
        for rule in rules(schema_of(kinds.KVM_NODE))
        if "size() <=" in rule
    )
    assert len(longest) <= limit
    # A Deployment's pods are named <deployment>-<10 characters>-<5 characters>.
    assert limit + 17 <= names.DNS_LABEL_MAX


def test_certificate_components_are_the_catalogue() -> None:
    component = subschema(schema_of(kinds.CERTIFICATE), "spec.component")
    assert component["enum"] == list(catalogue.ALL_COMPONENTS)


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        (kinds.CLUSTER, "spec.certificates.keyAlgorithm"),
        (kinds.CERTIFICATE, "spec.keyAlgorithm"),
    ],
    ids=["Cluster", "Certificate"],
)
def test_key_algorithms_are_the_catalogue(kind: kinds.Kind, path: str) -> None:
    algorithm = subschema(schema_of(kind), path)
    assert algorithm["enum"] == list(catalogue.KEY_ALGORITHMS)
    assert algorithm["default"] == catalogue.DEFAULT_KEY_ALGORITHM


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        (kinds.CLUSTER, "spec.baseDomain"),
        (kinds.CLUSTER, "spec.network.serviceCIDR"),
        (kinds.CLUSTER, "spec.network.podCIDR"),
        (kinds.CERTIFICATE, "spec.cluster"),
        (kinds.CERTIFICATE, "spec.component"),
        (kinds.KVM_NODE, "spec.cluster"),
        (kinds.KVM_NODE, "spec.role"),
        (kinds.KVM_NODE, "spec.index"),
        (kinds.ETCD_CLUSTER, "spec.restore"),
    ],
    ids=lambda value: value if isinstance(value, str) else value.kind,
)
def test_immutable_fields(kind: kinds.Kind, path: str) -> None:
    assert "self == oldSelf" in rules(subschema(schema_of(kind), path))


def test_cluster_network_requests_are_immutable_once_set() -> None:
    spec_rules = " ".join(rules(subschema(schema_of(kinds.CLUSTER_NETWORK), "spec")))
    assert "oldSelf.vni" in spec_rules
    assert "oldSelf.subnet" in spec_rules


@pytest.mark.parametrize("kind", kinds.ALL_KINDS, ids=KIND_IDS)
def test_defaulted_fields_say_their_default(kind: kinds.Kind) -> None:
    """`kubectl explain` does not print defaults: the description does."""
    for path, sub in walk(schema_of(kind)):
        if "default" in sub and sub["default"] != {}:
            assert "Defaults to" in sub["description"], dotted(path)


# --- the examples -----------------------------------------------------------------


def examples() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml"))


def test_there_is_an_example_of_every_kind() -> None:
    found = {
        doc["kind"]
        for path in examples()
        for doc in yaml.safe_load_all(path.read_text())
        if doc is not None
    }
    assert found == {kind.kind for kind in kinds.ALL_KINDS}
    assert (EXAMPLES / "cluster-minimal.yaml").exists()


@pytest.mark.parametrize("path", examples(), ids=lambda p: p.name)
def test_every_example_has_a_crd(path: Path) -> None:
    by_kind = {kind.kind: kind for kind in kinds.ALL_KINDS}
    for doc in yaml.safe_load_all(path.read_text()):
        if doc is None:
            continue
        assert doc["apiVersion"] == API_VERSION
        assert doc["kind"] in by_kind
        assert (CRDS / f"{by_kind[doc['kind']].crd_name}.yaml").exists()
        assert doc["metadata"]["name"]
        assert doc["metadata"]["namespace"]


def test_cluster_example_is_the_documented_defaults() -> None:
    doc = yaml.safe_load((EXAMPLES / "cluster.yaml").read_text())
    assert doc["metadata"] == {"name": "demo", "namespace": "default"}
    assert doc["spec"] == {
        "kubernetesVersion": "1.34.4",
        "baseDomain": "demo.g8s.local",
        "controlPlane": {"replicas": 1, "cpus": 2, "memoryMiB": 4096, "diskGiB": 20},
        "workers": {"replicas": 2, "cpus": 2, "memoryMiB": 4096, "diskGiB": 40},
        "etcd": {
            "replicas": 1,
            "storageGiB": 10,
            "backup": {"schedule": "0 */6 * * *", "keep": 7},
        },
        "network": {"serviceCIDR": "172.31.0.0/16", "podCIDR": "10.2.0.0/16"},
        "certificates": {"ttl": "4320h", "renewBefore": "720h", "keyAlgorithm": "ECDSAP256"},
        "pki": {"caRotation": {"paused": False}},
        "rollout": {"maxSurge": 1, "maxUnavailable": 0},
        "remediation": {
            "enabled": True,
            "unhealthyTimeout": "5m",
            "startupTimeout": "30m",
            "maxUnhealthy": "40%",
        },
        "paused": False,
    }


def test_minimal_cluster_example_has_only_name_and_base_domain() -> None:
    doc = yaml.safe_load((EXAMPLES / "cluster-minimal.yaml").read_text())
    assert set(doc["metadata"]) == {"name", "namespace"}
    assert set(doc["spec"]) == {"baseDomain"}


def test_kvm_node_example_is_named_as_the_cluster_operator_names_nodes() -> None:
    doc = yaml.safe_load((EXAMPLES / "kvmnode.yaml").read_text())
    spec = doc["spec"]
    assert doc["metadata"]["name"] == names.kvm_node(spec["cluster"], spec["role"], spec["index"])
