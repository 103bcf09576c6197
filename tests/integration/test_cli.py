"""The `g8s` console script against the real API server.

Covered: `g8s kubeconfig` writes the value of Secret `<c>-kubeconfig` to a file
only its owner can read, and says on stderr, with a non-zero exit, when the
Cluster does not exist; `g8s describe cluster` names a missing Cluster the same
way; `g8s plan -f` lists what a new Cluster would create and writes nothing,
shows a stored Cluster's change as a diff, and reports a refused field with
the API server's words and a non-zero exit; `g8s backup` names a missing
cluster, and asks the EtcdCluster for a backup (``g8s.io/backup-now``) and,
with no etcd operator to take it, ends at its timeout with a non-zero exit
(taking a backup on real etcd members: tests/integration/etcd/test_backup.py).
"""

import base64
import json
import stat
from pathlib import Path

import yaml

from tests.e2e.cluster.helpers import apply, cluster
from tests.localenv import LocalEnv
from tests.objects import etcd_cluster


def test_kubeconfig_writes_the_secret_privately(
    local_env: LocalEnv, namespace: str, tmp_path: Path
) -> None:
    value = json.dumps({"apiVersion": "v1", "kind": "Config", "clusters": []})
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "k1-kubeconfig", "namespace": namespace},
        "data": {"value": base64.b64encode(value.encode()).decode()},
    }
    local_env.kubectl("apply", "-f", "-", input=json.dumps(secret))
    path = tmp_path / "k1.kubeconfig"
    out = local_env.g8s("kubeconfig", "k1", "-n", namespace, "-o", str(path), check=False)
    assert out.returncode == 0, out.stderr
    assert path.read_text() == value
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_missing_cluster_is_named(local_env: LocalEnv, namespace: str) -> None:
    for args in (("kubeconfig", "nope"), ("describe", "cluster", "nope")):
        out = local_env.g8s(*args, "-n", namespace, check=False)
        assert out.returncode == 1
        assert f"Cluster {namespace}/nope not found" in out.stderr, out.stderr


def test_backup_asks_the_etcd_cluster_and_gives_up_at_its_timeout(
    local_env: LocalEnv, namespace: str
) -> None:
    out = local_env.g8s("backup", "nope", "-n", namespace, check=False)
    assert out.returncode == 1
    assert f"EtcdCluster {namespace}/nope not found" in out.stderr, out.stderr

    local_env.kubectl("apply", "-f", "-", input=json.dumps(etcd_cluster("b1", namespace)))
    out = local_env.g8s("backup", "b1", "-n", namespace, "--timeout", "3", check=False)
    assert out.returncode == 1
    assert "no backup within 3 s" in out.stderr, out.stderr
    stored = json.loads(
        local_env.kubectl("get", "etcdclusters.g8s.io", "b1", "-n", namespace, "-o", "json").stdout
    )
    asked = stored["metadata"]["annotations"]["g8s.io/backup-now"]
    assert f"g8s.io/backup-now={asked}" in out.stderr


def test_plan_writes_nothing_and_shows_changes(
    local_env: LocalEnv, namespace: str, tmp_path: Path
) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(cluster("p1", namespace, workers=2)))
    out = local_env.g8s("plan", "-f", str(path), check=False)
    assert out.returncode == 0, out.stderr
    for line in ("create Cluster p1", "create Certificate p1-api", "create EtcdCluster p1"):
        assert line in out.stdout.splitlines(), out.stdout
    stored = local_env.kubectl(
        "get", "clusters.g8s.io,certificates.g8s.io,etcdclusters.g8s.io", "-n", namespace,
        "-o", "name",
    )  # fmt: skip
    assert stored.stdout.strip() == ""

    local_env.kubectl("apply", "-f", str(path))
    path.write_text(yaml.safe_dump(cluster("p1", namespace, workers=3)))
    out = local_env.g8s("plan", "-f", str(path), check=False)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "change Cluster p1", out.stdout
    assert "    +    replicas: 3" in lines, out.stdout

    path.write_text(yaml.safe_dump(cluster("p1", namespace, workers=101)))
    out = local_env.g8s("plan", "-f", str(path), check=False)
    assert out.returncode == 1
    assert "spec.workers.replicas" in out.stderr, out.stderr


def test_restore_prints_or_creates_a_cluster_from_the_latest_backup(
    local_env: LocalEnv, namespace: str
) -> None:
    out = local_env.g8s("restore", "r1", "-n", namespace, check=False)
    assert out.returncode == 1
    assert f"Cluster {namespace}/r1 not found" in out.stderr, out.stderr

    apply(local_env, cluster("r1", namespace, workers=1), etcd_cluster("r1", namespace))
    out = local_env.g8s("restore", "r1", "-n", namespace, check=False)
    assert out.returncode == 1
    assert "no backup recorded yet" in out.stderr, out.stderr

    # What the etcd operator records after a backup.
    location, checksum = f"{namespace}/r1/20261205T000000Z-manual.db", "0f" * 32
    last = {"location": location, "checksum": checksum, "time": "2026-12-05T00:00:00Z"}
    local_env.kubectl(
        "patch", "etcdclusters.g8s.io", "r1", "-n", namespace, "--subresource=status",
        "--type=merge", "-p", json.dumps({"status": {"lastBackup": last}}),
    )  # fmt: skip
    out = local_env.g8s("restore", "r1", "-n", namespace, check=False)
    assert out.returncode == 1
    assert "r1-encryption not found" in out.stderr, out.stderr

    # What the cluster operator makes as r1 starts: its encryption key.
    key = base64.b64encode(bytes(range(32))).decode()
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "r1-encryption", "namespace": namespace},
        "data": {"key": key},
    }
    apply(local_env, secret)
    out = local_env.g8s("restore", "r1", "-n", namespace, check=False)
    assert out.returncode == 0, out.stderr
    printed = yaml.safe_load(out.stdout)
    assert printed["metadata"]["name"] == "r1"
    assert printed["spec"]["etcd"]["restoreFrom"] == {
        "location": location,
        "checksum": checksum,
        "encryptionKeysSecret": "r1-restore-keys",
    }
    kept = json.loads(
        local_env.kubectl("get", "secret", "r1-restore-keys", "-n", namespace, "-o", "json").stdout
    )
    assert kept["data"] == {"key": key}
    assert "ownerReferences" not in kept["metadata"]
    # The printed manifest is one the API server takes (as a dry run: r1 exists).
    local_env.kubectl(
        "create", "--dry-run=server", "-f", "-",
        input=json.dumps({**printed, "metadata": {**printed["metadata"], "name": "r1-dry"}}),
    )  # fmt: skip

    out = local_env.g8s("restore", "r1", "-n", namespace, "--as", "r2", check=False)
    assert out.returncode == 0, out.stderr
    assert f"from backup {location}" in out.stdout
    created = json.loads(
        local_env.kubectl("get", "clusters.g8s.io", "r2", "-n", namespace, "-o", "json").stdout
    )
    assert created["spec"]["etcd"]["restoreFrom"]["location"] == location
    assert created["spec"]["baseDomain"] == "r1.g8s.local"
    again = local_env.g8s("restore", "r1", "-n", namespace, "--as", "r2", check=False)
    assert again.returncode == 1
    assert "already exists" in again.stderr, again.stderr
