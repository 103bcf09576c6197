"""Scenario 2, operator crash storm: SIGKILL a random operator every few seconds.

While new Clusters are created and older ones deleted, a random one of the
five operators is killed (SIGKILL: no shutdown handler runs) every
``KILL_EVERY`` seconds for ``STORM_SECONDS``, and started again a second later.
Afterwards, without any help:

- every Cluster that should exist is Ready, and each has exactly the children
  its spec asks for (no duplicate KVMNode, Certificate, Deployment, ...);
- the deleted Clusters left nothing (``faults.leftovers``: objects, volumes,
  Vault mount, allocation records);
- the Clusters that lived through the storm lost nothing: the same CA, and
  every TLS Secret still holds a key that matches its certificate, signed by
  that CA;
- no certificate was signed twice for one revision: Vault signed exactly one
  certificate per revision of each of the cluster's Certificates, counted
  from Vault's own audit log (leaves are ``no_store``: there is no list);
- no operator exited other than by the scenario's kill.

CI runs it with a handful of clusters (the same code path as bench/ with many).
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from shared.api import certificates as catalogue
from tests.e2e.cluster.helpers import apply, cluster
from tests.localenv import LocalEnv, get_json
from tests.operators import wait_for
from tests.reliability.faults import (
    Summary,
    clusters,
    items,
    leftovers,
    network_uid,
    ready,
    signatures,
    storm,
    supervised,
)

KEEP = ("keep-01", "keep-02")
OLD = ("old-01", "old-02")
NEW = ("new-01", "new-02", "new-03", "new-04")
WORKERS = 1
STORM_SECONDS = 60.0
KILL_EVERY = 3.0
CONVERGE_TIMEOUT = 600.0


def secret_data(secret: dict[str, Any], key: str) -> bytes:
    return base64.b64decode((secret.get("data") or {}).get(key) or "")


def tls_secrets(env: LocalEnv, namespace: str, name: str) -> dict[str, dict[str, Any]]:
    found = items(env, namespace, "secrets", "-l", f"g8s.io/cluster={name}")
    return {s["metadata"]["name"]: s for s in found if s.get("type") == "kubernetes.io/tls"}


def broken(secret: dict[str, Any], ca_pem: bytes) -> str:
    """Why a TLS Secret does not hold a usable key pair from ``ca_pem``; "" if it does."""
    try:
        cert = x509.load_pem_x509_certificate(secret_data(secret, "tls.crt"))
        key = serialization.load_pem_private_key(secret_data(secret, "tls.key"), password=None)
        ca = x509.load_pem_x509_certificate(ca_pem)
    except ValueError as exc:
        return f"unreadable: {exc}"
    if cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        return "key does not match certificate"
    if cert.issuer != ca.subject:
        return "not signed by the cluster's CA"
    return ""


def ca_of(env: LocalEnv, namespace: str, name: str) -> bytes:
    return secret_data(get_json(env, namespace, "secret", f"{name}-ca"), "ca.crt")


def signed_revisions(env: LocalEnv, namespace: str, name: str) -> int:
    """The revisions of the cluster's Certificates that Vault signs (key pairs are made here)."""
    total = 0
    for item in items(env, namespace, "certificates.g8s.io", "-l", f"g8s.io/cluster={name}"):
        if item["spec"]["component"] == catalogue.SERVICE_ACCOUNT:
            continue
        total += int((item.get("status") or {}).get("revision") or 0)
    return total


def children_count(env: LocalEnv, namespace: str, name: str) -> dict[str, int]:
    selector = f"g8s.io/cluster={name}"
    kinds = "kvmnodes.g8s.io,etcdclusters.g8s.io,clusternetworks.g8s.io,certificates.g8s.io"
    counts: dict[str, int] = {}
    for item in items(
        env, namespace, f"{kinds},deployments.apps,statefulsets.apps", "-l", selector
    ):
        counts[item["kind"]] = counts.get(item["kind"], 0) + 1
    return counts


def expected_children() -> dict[str, int]:
    nodes = 1 + WORKERS
    return {
        "KVMNode": nodes,
        "EtcdCluster": 1,
        "ClusterNetwork": 1,
        "Certificate": len(catalogue.COMPONENTS) + nodes,
        "Deployment": nodes,
        "StatefulSet": 1,
    }


def test_a_crash_storm_converges_leaks_nothing_and_loses_nothing(
    local_env: LocalEnv, namespace: str, tmp_path: Path
) -> None:
    summary = Summary("crash-storm", clusters=len(KEEP) + len(NEW) + len(OLD))
    with supervised(local_env, namespace, tmp_path) as ops:
        apply(local_env, *(cluster(n, namespace, workers=WORKERS) for n in (*KEEP, *OLD)))
        wait_for(
            lambda: (
                sum(ready(c) for c in clusters(local_env, namespace).values())
                == len(KEEP) + len(OLD)
            ),
            timeout=CONVERGE_TIMEOUT,
            what="the clusters before the storm Ready",
            interval=2.0,
        )
        cas = {name: ca_of(local_env, namespace, name) for name in KEEP}
        uids = {name: [network_uid(local_env, namespace, name)] for name in OLD}

        started = time.monotonic()
        with storm(ops, every=KILL_EVERY) as killed:
            apply(local_env, *(cluster(n, namespace, workers=WORKERS) for n in NEW))
            local_env.kubectl("delete", "clusters.g8s.io", *OLD, "-n", namespace, "--wait=false")
            time.sleep(max(0.0, STORM_SECONDS - (time.monotonic() - started)))
        summary.faults = len(killed)
        print(f"killed: {killed}")

        def converged() -> bool:
            now = clusters(local_env, namespace)
            return set(now) == {*KEEP, *NEW} and all(ready(c) for c in now.values())

        wait_for(
            converged, timeout=CONVERGE_TIMEOUT, what="convergence after the storm", interval=2.0
        )
        after = clusters(local_env, namespace)
        summary.converged = sum(ready(after[n]) for n in (*KEEP, *NEW) if n in after) + len(
            [n for n in OLD if n not in after]
        )

        for name in OLD:
            summary.leaked += leftovers(local_env, namespace, name, uids[name])
        for name in (*KEEP, *NEW):
            counts = children_count(local_env, namespace, name)
            for kind, want in expected_children().items():
                if counts.get(kind, 0) > want:
                    summary.leaked.append(f"{name}: {counts[kind]} {kind} for {want}")
            mount = catalogue.mount_path(namespace, name)
            # A second signature for one revision is a valid credential nobody
            # holds on to: counted as leaked.
            issued = signatures(local_env, mount)
            revisions = signed_revisions(local_env, namespace, name)
            if issued != revisions:
                summary.leaked.append(f"{mount}: {issued} signed for {revisions} revisions")
        for name in KEEP:
            ca = ca_of(local_env, namespace, name)
            if ca != cas[name]:
                summary.lost.append(f"{name}: the CA changed")
            for secret_name, secret in tls_secrets(local_env, namespace, name).items():
                why = broken(secret, ca)
                if why:
                    summary.lost.append(f"{secret_name}: {why}")
        assert not ops.crashed(), f"operators exited on their own: {ops.crashed()}"
    summary.check()
