"""The five operator charts under charts/, read as files (no server; helm for lint and render).

Covers, for each chart: Chart.yaml names it ``g8s-<operator>`` at version
0.1.0 with the project's version as appVersion; its crds/ holds only a
relative symlink to its kind's CRD in crds/ (the source of truth; helm
follows the link). What the charts share is the library chart
charts/g8s-common: every operator chart declares it as its only dependency
and links it into its charts/ (a relative symlink helm follows), defines the
hooks the library's templates call, and renders the library's objects
(ServiceAccount, ClusterRoleBinding, Deployment, metrics Service,
ClusterKopfPeering) under its own name, with its own CRD and kopf's peering
CRDs, which exist once, in the library's crds/. values.schema.json is
draft-07, describes and types every value of values.yaml (and the empty key
helm gives the library) and closes every object of its own; values.yaml
validates against it, and a negative replica count, an unknown key, port 0
or an unknown log format do not (checked by ``helm lint``, which validates
values against the schema; no jsonschema in the environment); every key of
values.yaml has a comment right above it; every ``G8S_*`` variable the
templates (the chart's and the library's) name is a real setting of the
operator (its settings dataclasses), and every setting is exposed except the
few named here with the reason.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from operators.certificates.context import CertificatesSettings
from operators.etcd.context import EtcdSettings
from operators.kvm.context import KVMSettings
from operators.network.agent.context import AgentSettings
from operators.network.context import NetworkSettings
from shared.api import kinds
from shared.settings import RuntimeSettings

ROOT = Path(__file__).resolve().parents[2]
CHARTS = ROOT / "charts"
HELM = ROOT / ".tools" / "bin" / "helm"
OPERATORS = ("cluster", "certificates", "etcd", "network", "kvm")
PEERING_CRDS = "kopf-peering.yaml"
PEERING_CRD_NAMES = ("clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev")
# The library chart every operator chart depends on, and how each declares it.
LIBRARY = CHARTS / "g8s-common"
LIBRARY_DEPENDENCY = {
    "name": "g8s-common",
    "version": "0.1.0",
    "repository": "file://../g8s-common",
}
# The objects the library's templates render for every operator chart.
LIBRARY_OBJECTS = ("ServiceAccount", "ClusterRoleBinding", "Deployment", "ClusterKopfPeering")
DEFINE = re.compile(r'\{\{-?\s*define\s+"([^"]+)"')
INCLUDE = re.compile(r'\b(?:include|template)\s+"([^"]+)"')

# The settings each chart configures: (dataclass, environment prefix).
SETTINGS: dict[str, tuple[tuple[type[Any], str], ...]] = {
    "cluster": ((RuntimeSettings, "G8S_"),),
    "certificates": ((RuntimeSettings, "G8S_"), (CertificatesSettings, "G8S_")),
    "etcd": ((RuntimeSettings, "G8S_"), (EtcdSettings, "G8S_ETCD_")),
    "network": (
        (RuntimeSettings, "G8S_"),
        (NetworkSettings, "G8S_NETWORK_"),
        (AgentSettings, "G8S_AGENT_"),
    ),
    "kvm": ((RuntimeSettings, "G8S_"), (KVMSettings, "G8S_KVM_")),
}
# Settings a chart leaves at the operator's default, and why.
NOT_EXPOSED = {
    # A token in an environment variable would sit in the pod spec: the chart
    # mounts the token Secret as a file (G8S_VAULT_TOKEN_FILE) instead.
    "G8S_VAULT_TOKEN",
    "G8S_VAULT_TOKEN_SECRET",
    # The pod's own service-account token, where the default points.
    "G8S_VAULT_JWT_FILE",
    # For tests that run the agent in a network namespace of their own.
    "G8S_AGENT_NETNS",
    # A benchmark's diagnostic (bench.cluster --heap): it slows the process.
    "G8S_HEAP_TRACE",
    # The benchmark's report of what holds the memory, a file it reads on the
    # same machine after a signal (bench.cluster); nothing a pod is asked for.
    "G8S_MEMORY_REPORT",
}
VARIABLE = re.compile(r"\bG8S_[A-Z0-9_]*[A-Z0-9]\b")
KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.-]+):(?: |$)")


def chart(operator: str) -> Path:
    return CHARTS / operator


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def project_version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return str(tomllib.load(handle)["project"]["version"])


@pytest.mark.parametrize("operator", OPERATORS)
def test_chart_metadata(operator: str) -> None:
    meta = load_yaml(chart(operator) / "Chart.yaml")
    assert meta["apiVersion"] == "v2"
    assert meta["name"] == f"g8s-{operator}"
    assert meta["version"] == "0.1.0"
    assert meta["appVersion"] == project_version()
    assert meta["type"] == "application"


@pytest.mark.parametrize("operator", OPERATORS)
def test_crd_links_to_the_source_of_truth(operator: str) -> None:
    """The chart's crds/ holds one relative link to its kind's CRD in crds/ (helm follows it)."""
    kind = kinds.by_operator(operator)
    name = f"{kind.crd_name}.yaml"
    assert [p.name for p in (chart(operator) / "crds").iterdir()] == [name]
    link = chart(operator) / "crds" / name
    assert link.is_symlink(), f"{link} is not a symlink: link it to ../../../crds/{name}"
    assert not Path(os.readlink(link)).is_absolute(), f"{link} must be relative"
    assert link.resolve() == (ROOT / "crds" / name).resolve()
    crd = load_yaml(link)
    assert crd["kind"] == "CustomResourceDefinition"
    assert crd["metadata"]["name"] == kind.crd_name
    assert crd["spec"]["names"]["kind"] == kind.kind


def test_peering_crds_are_the_librarys() -> None:
    """kopf's peering CRDs exist once, in the library's crds/ (helm installs it with each chart)."""
    assert [p.name for p in (LIBRARY / "crds").iterdir()] == [PEERING_CRDS]
    docs = [d for d in yaml.safe_load_all((LIBRARY / "crds" / PEERING_CRDS).read_text()) if d]
    found = {(d["metadata"]["name"], d["spec"]["scope"], d["spec"]["names"]["kind"]) for d in docs}
    assert found == {
        (PEERING_CRD_NAMES[0], "Cluster", "ClusterKopfPeering"),
        (PEERING_CRD_NAMES[1], "Namespaced", "KopfPeering"),
    }
    for doc in docs:
        (version,) = doc["spec"]["versions"]
        assert version["name"] == "v1"
        assert version["served"]
        assert version["storage"]
        status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
        assert status["x-kubernetes-preserve-unknown-fields"] is True


def test_library_chart_metadata() -> None:
    meta = load_yaml(LIBRARY / "Chart.yaml")
    assert meta["apiVersion"] == "v2"
    assert meta["name"] == LIBRARY_DEPENDENCY["name"]
    assert meta["version"] == LIBRARY_DEPENDENCY["version"]
    assert meta["type"] == "library"
    # A library renders nothing itself: only named templates (partials).
    templates = sorted(p.name for p in (LIBRARY / "templates").iterdir())
    assert templates
    assert all(name.startswith("_") and name.endswith(".tpl") for name in templates), templates


@pytest.mark.parametrize("operator", OPERATORS)
def test_chart_depends_on_the_library(operator: str) -> None:
    meta = load_yaml(chart(operator) / "Chart.yaml")
    assert meta["dependencies"] == [LIBRARY_DEPENDENCY]
    # helm reads the dependency from charts/: a relative link to the library
    # (the same files for all five charts, no `helm dependency build`).
    assert [p.name for p in (chart(operator) / "charts").iterdir()] == [LIBRARY.name]
    link = chart(operator) / "charts" / LIBRARY.name
    assert link.is_symlink(), f"{link} is not a symlink: link it to ../../{LIBRARY.name}"
    assert not Path(os.readlink(link)).is_absolute(), f"{link} must be relative"
    assert link.resolve() == LIBRARY.resolve()


def templates_text(path: Path) -> str:
    return "".join(p.read_text() for p in sorted((path / "templates").iterdir()))


def defined(path: Path) -> set[str]:
    """The names a chart's templates define."""
    return set(DEFINE.findall(templates_text(path)))


def included(path: Path) -> set[str]:
    """The names a chart's templates include."""
    return set(INCLUDE.findall(templates_text(path)))


def test_library_names_its_templates_after_itself() -> None:
    """g8s-common.* is the library's, g8s.* the operator chart's own: no clash, easy to find."""
    assert defined(LIBRARY)
    assert {name for name in defined(LIBRARY) if not name.startswith("g8s-common.")} == set()
    for operator in OPERATORS:
        own = defined(chart(operator))
        assert {name for name in own if name.startswith("g8s-common.")} == set(), operator


@pytest.mark.parametrize("operator", OPERATORS)
def test_chart_defines_the_hooks_the_library_calls(operator: str) -> None:
    hooks = included(LIBRARY) - defined(LIBRARY)
    assert hooks == {"g8s.operatorEnv", "g8s.volumeMounts", "g8s.volumes"}
    assert hooks - defined(chart(operator)) == set()
    # And the chart calls only templates that exist, its own or the library's.
    assert included(chart(operator)) - defined(chart(operator)) - defined(LIBRARY) == set()


def schema_of(operator: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((chart(operator) / "values.schema.json").read_text())
    return schema


def schema_at(schema: Mapping[str, Any], path: tuple[str, ...]) -> Mapping[str, Any] | None:
    """The schema of the value at ``path``; None below an object left open to Kubernetes."""
    node: Mapping[str, Any] = schema
    for key in path:
        properties = node.get("properties")
        if properties is None:
            return None
        node = properties[key]
    return node


@pytest.mark.parametrize("operator", OPERATORS)
def test_schema_covers_every_value(operator: str) -> None:
    schema = schema_of(operator)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    values = load_yaml(chart(operator) / "values.yaml")
    # helm gives every dependency a key of the values (holding `global`):
    # the schema allows the library's, empty, and nothing else.
    assert set(schema["properties"]) == set(values) | {LIBRARY.name}
    assert schema["additionalProperties"] is False
    library = schema["properties"][LIBRARY.name]
    assert (library["type"], library["additionalProperties"]) == ("object", False)
    assert set(library["properties"]) == {"global"}
    for path in key_paths(values):
        node = schema_at(schema, path)
        if node is None:
            continue
        where = ".".join(path)
        assert node.get("type"), f"{where} has no type"
        assert node.get("description"), f"{where} has no description"
        if "properties" in node:
            assert node["additionalProperties"] is False, f"{where} is open"


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    """Run helm with its caches and settings under .tools/helm."""
    if not os.access(HELM, os.X_OK):
        pytest.fail(f"{HELM} is missing: run `make tools`", pytrace=False)
    home = {
        f"HELM_{part}_HOME": str(ROOT / ".tools" / "helm" / part.lower())
        for part in ("CACHE", "CONFIG", "DATA")
    }
    return subprocess.run(
        [str(HELM), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **home},
    )


def helm_lint(operator: str, *flags: str) -> subprocess.CompletedProcess[str]:
    """``helm lint --strict`` of one chart, which validates the values against its schema."""
    return helm("lint", "--strict", str(chart(operator)), *flags)


def render(operator: str, *flags: str) -> list[dict[str, Any]]:
    """``helm template <op> charts/<op> --include-crds``, parsed."""
    result = helm("template", operator, str(chart(operator)), "--include-crds", *flags)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.mark.parametrize("operator", OPERATORS)
def test_values_validate_against_the_schema(operator: str) -> None:
    result = helm_lint(operator)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_library_lints_clean() -> None:
    result = helm("lint", "--strict", str(LIBRARY))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("operator", OPERATORS)
def test_renders_the_library_objects(operator: str) -> None:
    """Through the link, the library's templates render under the operator chart's name."""
    name = f"g8s-{operator}"
    manifest = render(operator)
    found = {(o["kind"], o["metadata"]["name"]) for o in manifest}
    assert {(kind, name) for kind in LIBRARY_OBJECTS} <= found
    assert ("Service", f"{name}-metrics") in found
    # The CRDs helm installs with the chart: its kind's and kopf's peering
    # kinds (the library's crds/), each once.
    crds = sorted(
        o["metadata"]["name"] for o in manifest if o["kind"] == "CustomResourceDefinition"
    )
    expected = [kinds.by_operator(operator).crd_name, *PEERING_CRD_NAMES]
    assert crds == sorted(expected)


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("replicas=-1", ("/replicas", "minimum")),
        ("replica=2", ("additional properties", "replica")),
        ("metrics.port=0", ("/metrics/port", "minimum")),
        ("logging.format=xml", ("/logging/format", "must be one of")),
    ],
)
@pytest.mark.parametrize("operator", OPERATORS)
def test_schema_rejects_bad_values(operator: str, flag: str, expected: tuple[str, str]) -> None:
    result = helm_lint(operator, "--set", flag)
    output = (result.stdout + result.stderr).lower()
    assert result.returncode != 0, output
    assert "schema" in output
    for part in expected:
        assert part in output


def key_comments(text: str) -> dict[tuple[str, ...], bool]:
    """Each mapping key of a YAML text (as a path) -> whether a comment is right above it."""
    lines = text.splitlines()
    stack: list[tuple[int, str]] = []
    found: dict[tuple[str, ...], bool] = {}
    for number, line in enumerate(lines):
        match = KEY_LINE.match(line)
        if match is None:
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = (*(key for _, key in stack), match["key"])
        stack.append((indent, match["key"]))
        found[path] = number > 0 and lines[number - 1].lstrip().startswith("#")
    return found


def key_paths(node: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for key, value in node.items():
        yield (*prefix, str(key))
        if isinstance(value, Mapping):
            yield from key_paths(value, (*prefix, str(key)))


def test_key_comments_sees_nesting_and_missing_comments() -> None:
    text = "# a\na:\n  # b\n  b: 1\n  c: 2\n# d\nd: [x]\n"
    assert key_comments(text) == {("a",): True, ("a", "b"): True, ("a", "c"): False, ("d",): True}


@pytest.mark.parametrize("operator", OPERATORS)
def test_every_value_is_documented(operator: str) -> None:
    text = (chart(operator) / "values.yaml").read_text()
    comments = key_comments(text)
    # The line scan must see exactly the keys the YAML parser sees.
    assert set(comments) == set(key_paths(yaml.safe_load(text)))
    undocumented = [".".join(path) for path, documented in comments.items() if not documented]
    assert undocumented == []


def settings_variables(operator: str) -> set[str]:
    return {
        f"{prefix}{field.name.upper()}"
        for cls, prefix in SETTINGS[operator]
        for field in dataclasses.fields(cls)
    }


def template_variables(operator: str) -> set[str]:
    """The G8S_* variables of the chart's templates and of the library's (through its link)."""
    text = templates_text(chart(operator)) + templates_text(
        chart(operator) / "charts" / LIBRARY.name
    )
    return set(VARIABLE.findall(text))


@pytest.mark.parametrize("operator", OPERATORS)
def test_templates_name_only_real_settings(operator: str) -> None:
    assert template_variables(operator) - settings_variables(operator) == set()


@pytest.mark.parametrize("operator", OPERATORS)
def test_every_setting_is_exposed(operator: str) -> None:
    missing = settings_variables(operator) - template_variables(operator) - NOT_EXPOSED
    assert missing == set()
