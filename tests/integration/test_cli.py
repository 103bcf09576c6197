"""The `g8s` console script against the real API server.

Covered: `g8s kubeconfig` writes the value of Secret `<c>-kubeconfig` to a file
only its owner can read, and says on stderr, with a non-zero exit, when the
Cluster does not exist; `g8s describe cluster` names a missing Cluster the same
way.
"""

import base64
import json
import stat
from pathlib import Path

from tests.localenv import LocalEnv


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
