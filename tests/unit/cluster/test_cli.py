"""The `g8s` command line: `describe cluster` (the tree of a Cluster) and `kubeconfig`."""

import base64
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from operators.cluster import cli
from tests.unit.cluster.helpers import ready

NOW = datetime(2026, 1, 1, 1, 0, 0, tzinfo=UTC)


def obj(kind: str, name: str, status: str = "True") -> dict[str, Any]:
    return {
        "kind": kind,
        "metadata": {"name": name, "namespace": "ns", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "status": ready(status, reason="Fine" if status == "True" else "Waiting"),
    }


def test_tree_lists_every_child_with_ready_reason_and_age() -> None:
    cluster = obj("Cluster", "c1", "False")
    cluster["status"] = {
        **cluster["status"],
        "endpoint": "https://e",
        "kubeconfigSecret": "c1-kubeconfig",
    }
    children = {
        "KVMNode": [obj("KVMNode", "c1-w-b"), obj("KVMNode", "c1-w-a", "False")],
        "Certificate": [obj("Certificate", "c1-api")],
    }
    lines = cli.tree(cluster, children, NOW)
    assert lines[0].split()[:4] == ["NAME", "READY", "REASON", "AGE"]
    assert lines[1].split()[:4] == ["Cluster/c1", "False", "Waiting", "1h"]
    assert lines[2].startswith("├─Certificate/c1-api")
    assert lines[3].split()[:3] == ["├─KVMNode/c1-w-a", "False", "Waiting"]
    assert lines[4].startswith("└─KVMNode/c1-w-b")
    assert lines[-2] == "endpoint: https://e"
    assert lines[-1] == "kubeconfig: Secret ns/c1-kubeconfig"


@pytest.mark.parametrize(
    ("created", "expected"),
    [("2026-01-01T00:59:30Z", "30s"), ("2025-12-30T01:00:00Z", "2d"), ("", "-")],
)
def test_age(created: str, expected: str) -> None:
    assert cli.age(created, NOW) == expected


def test_usage_error_exits_nonzero() -> None:
    with pytest.raises(SystemExit) as raised:
        cli.main(["describe", "pod", "x"])
    assert raised.value.code != 0


class Secrets:
    """A stand-in for the Kubernetes adapter's get: objects by (kind, name)."""

    def __init__(self, *objects: dict[str, Any]) -> None:
        self.objects = {(o["kind"], o["metadata"]["name"]): o for o in objects}

    def get(self, ref: Any) -> dict[str, Any] | None:
        return self.objects.get((ref.kind, ref.name))


def test_kubeconfig_is_the_secrets_value() -> None:
    secret = {
        "kind": "Secret",
        "metadata": {"name": "c1-kubeconfig"},
        "data": {"value": base64.b64encode(b"apiVersion: v1\n").decode()},
    }
    assert cli.kubeconfig(Secrets(secret), "c1", "ns") == "apiVersion: v1\n"  # type: ignore[arg-type]


def test_kubeconfig_says_what_is_missing() -> None:
    with pytest.raises(LookupError, match="Cluster ns/c1 not found"):
        cli.kubeconfig(Secrets(), "c1", "ns")  # type: ignore[arg-type]
    pending = Secrets(obj("Cluster", "c1", "False"))
    with pytest.raises(LookupError, match="not written yet: the admin certificate"):
        cli.kubeconfig(pending, "c1", "ns")  # type: ignore[arg-type]


def test_a_written_kubeconfig_is_private(tmp_path: Path) -> None:
    path = tmp_path / "c1.kubeconfig"
    path.write_text("old, readable by all")
    path.chmod(0o644)
    cli.write_private(path, "key material")
    assert path.read_text() == "key material"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
