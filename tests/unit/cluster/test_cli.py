"""``g8s describe cluster``: the tree printed from a Cluster and its children."""

from datetime import UTC, datetime
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
