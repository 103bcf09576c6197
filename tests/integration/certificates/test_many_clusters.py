"""Twenty clusters' certificates created, then deleted in random order, leave nothing.

Two Certificates per cluster (a server and a client certificate), all created
at once; once all are Ready, they are deleted in a random order, five per
request and without waiting, so that deletions of one cluster overlap.
Afterwards no PKI mount of the namespace and no ``<c>-ca`` Secret is left.
"""

from __future__ import annotations

import random

from shared.api import certificates as catalogue
from shared.vault import Vault
from tests.integration.certificates.helpers import apply, certificate, items, wait_ready
from tests.localenv import LocalEnv
from tests.operators import RunningOperator, wait_for

CLUSTERS = 20


def test_twenty_clusters_leave_no_mount(
    local_env: LocalEnv, namespace: str, operator: RunningOperator, vault: Vault
) -> None:
    clusters = [f"m{i:02d}" for i in range(CLUSTERS)]
    objects = [
        certificate(
            f"{cluster}-{component}", namespace, cluster, component, ttl="1h", renewBefore="10m"
        )
        for cluster in clusters
        for component in (catalogue.ETCD_SERVER, catalogue.ADMIN)
    ]
    apply(local_env, *objects)
    for obj in objects:
        wait_ready(local_env, obj["metadata"]["name"], namespace, timeout=120)
    prefix = catalogue.mount_path(namespace, "")
    assert len(vault.mounts(prefix)) == CLUSTERS

    order = [obj["metadata"]["name"] for obj in objects]
    random.Random(42).shuffle(order)
    # Batches of five: deletions overlap, as when a whole cluster goes at once.
    for start in range(0, len(order), 5):
        batch = order[start : start + 5]
        local_env.kubectl("delete", "certificates.g8s.io", *batch, "-n", namespace, "--wait=false")
    wait_for(
        lambda: not items(local_env, "certificates.g8s.io", namespace),
        timeout=120,
        what="every Certificate gone",
    )
    assert vault.mounts(prefix) == []
    leftover = [
        s["metadata"]["name"]
        for s in items(local_env, "secrets", namespace)
        if s["metadata"]["name"].endswith("-ca")
    ]
    assert leftover == []
    assert operator.process.poll() is None
