"""Scenario 8, secrets stay secret: no private key or Vault token outside Secrets.

A Cluster is created, one of its certificates is reissued (its Secret deleted
by hand) and the Cluster is deleted. Then every place other than Secrets is
searched for PEM private keys and for the Vault token: every operator's log
and the volume provisioner's, the namespace's Events, every ConfigMap of the
host cluster, and the status of every g8s object seen during the run. The
search first finds the key in the Secret it belongs in, so it is known to
recognise one.
"""

from __future__ import annotations

import base64
from pathlib import Path

from tests.e2e.cluster.helpers import apply, cluster
from tests.localenv import LocalEnv, find_json, get_json
from tests.operators import wait_for
from tests.reliability.faults import Summary, clusters, dump, items, ready, supervised

NAME = "secretive"
READY_TIMEOUT = 300.0
PEM_KEY = "PRIVATE KEY-----"


def leaks(text: str, token: str) -> list[str]:
    found = []
    if PEM_KEY in text:
        found.append("a PEM private key")
    if token in text:
        found.append("the Vault token")
    return found


def test_no_private_key_or_token_outside_secrets(
    local_env: LocalEnv, namespace: str, tmp_path: Path
) -> None:
    summary = Summary("secrets-stay-secret", clusters=1)
    token = local_env.vault_token
    statuses: list[str] = []
    with supervised(local_env, namespace, tmp_path) as ops:
        apply(local_env, cluster(NAME, namespace, workers=1))

        def is_ready() -> bool:
            found = clusters(local_env, namespace)
            return NAME in found and ready(found[NAME])

        wait_for(is_ready, timeout=READY_TIMEOUT, what="the Cluster Ready", interval=2.0)
        secret = get_json(local_env, namespace, "secret", f"{NAME}-admin")
        assert PEM_KEY in base64.b64decode(secret["data"]["tls.key"]).decode()
        before = secret["data"]["tls.crt"]

        local_env.kubectl("delete", "secret", f"{NAME}-admin", "-n", namespace)

        def reissued() -> bool:
            found = find_json(local_env, namespace, "secret", f"{NAME}-admin")
            return found is not None and found["data"]["tls.crt"] != before

        wait_for(reissued, timeout=120, what="the admin certificate reissued")
        summary.faults = 1
        kinds = "clusters.g8s.io,kvmnodes.g8s.io,etcdclusters.g8s.io,certificates.g8s.io"
        kinds += ",clusternetworks.g8s.io"
        statuses = [dump(i.get("status")) for i in items(local_env, namespace, kinds)]
        summary.converged = int(is_ready())
        local_env.kubectl(
            "delete", "clusters.g8s.io", NAME, "-n", namespace, "--timeout=300s", timeout=330
        )
        logs = ops.logs()
    logs["volumes"] = (tmp_path / "volumes.log").read_text(errors="replace")

    places = {f"{name} log": text for name, text in logs.items()}
    places["events"] = dump(items(local_env, namespace, "events"))
    places["configmaps"] = dump(items(local_env, "default", "configmaps", "--all-namespaces"))
    places["statuses"] = "\n".join(statuses)
    for place, text in places.items():
        assert text, f"nothing read from {place}: the search would prove nothing"
        summary.leaked += [f"{what} in {place}" for what in leaks(text, token)]
    summary.check()
