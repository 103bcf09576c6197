"""Deleting a Ready Cluster, with the five operators as processes: the order, and nothing left.

Covered (docs/design.md#deletion-order): the children go in the order workers, control
plane, etcd, network, certificates — checked twice: in the Cluster's
``Deleting`` condition, watched through the deletion, and in the children's
own watch events (each stage's objects are all gone before the next stage's
deletion begins). Afterwards nothing of the cluster is left: no child CR;
no Secret, Service, PVC, StatefulSet, Deployment, PDB, NetworkPolicy,
ConfigMap or Pod labelled with it (nor any at all in its namespace, which
held only this cluster); no Vault PKI mount (asked of OpenBao); no network
allocation record in the allocation namespace, no PersistentVolume of its
claims — all checked the moment the Cluster has gone, not after the garbage
collector has caught up (docs/design.md#deletion-order). Each of these checks first
finds the thing present while the cluster is Ready, so it cannot pass by
looking in the wrong place.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any

from operators.cluster import policies
from operators.network.children import record
from operators.network.context import NetworkSettings
from shared.api import certificates as catalogue
from shared.vault import TokenAuth, Vault
from tests.e2e.cluster.helpers import (
    CHILD_KINDS,
    CLUSTER_LABEL,
    Event,
    apply,
    children,
    cluster,
    condition,
    get,
    suite,
    wait_ready,
    watching,
)
from tests.localenv import LocalEnv
from tests.operators import wait_for

GONE_TIMEOUT = 240.0
# What the operators write besides the child CRs, by kubectl resource name.
WRITTEN = (
    "secrets",
    "services",
    "persistentvolumeclaims",
    "statefulsets.apps",
    "deployments.apps",
    "poddisruptionbudgets.policy",
    "networkpolicies.networking.k8s.io",
    "configmaps",
    "pods",
)
# Every namespace has this one; nothing of g8s.
NAMESPACE_DEFAULTS = {("ConfigMap", "kube-root-ca.crt")}
STAGE_MESSAGE = re.compile(r"^removing (\w+):")


def listed(env: LocalEnv, namespace: str, *selector: str) -> set[tuple[str, str]]:
    """(kind, name) of every object of the WRITTEN kinds in ``namespace``."""
    out = env.kubectl("get", ",".join(WRITTEN), "-n", namespace, *selector, "-o", "json").stdout
    return {(i["kind"], i["metadata"]["name"]) for i in json.loads(out)["items"]}


def volumes_of(env: LocalEnv, namespace: str) -> list[str]:
    """The PersistentVolumes whose claims are (or were) in ``namespace``."""
    items = get(env, namespace, "persistentvolumes")["items"]
    return [v["metadata"]["name"] for v in items if v["spec"]["claimRef"]["namespace"] == namespace]


def records(env: LocalEnv, owner_uid: str) -> list[dict[str, Any]]:
    selector = record.selector(owner_uid=owner_uid)
    namespace = NetworkSettings().allocation_namespace
    return list(get(env, namespace, "configmaps", "-l", selector)["items"])


def stage(child: dict[str, Any]) -> str:
    kind = child["kind"]
    if kind == "KVMNode":
        return (
            policies.CONTROL_PLANE if child["spec"]["role"] == "controlplane" else policies.WORKERS
        )
    return {
        "EtcdCluster": policies.ETCD,
        "ClusterNetwork": policies.NETWORK,
        "Certificate": policies.CERTIFICATES,
    }[kind]


def revision(event: Event) -> int:
    # The API server's resourceVersions come from etcd's single revision
    # counter here, so they order events across the kinds exactly.
    return int(event.obj["metadata"]["resourceVersion"])


def is_node_identity(child: dict[str, Any]) -> bool:
    """A node's kubelet Certificate: owned by its KVMNode, it goes with it, not in a stage."""
    return bool(child["kind"] == "Certificate" and child["spec"].get("component") == catalogue.NODE)


def check_children_order(events: list[Event]) -> None:
    """Every stage's objects are gone before any object of the next stage starts going."""
    began: dict[str, int] = {}
    ended: dict[str, int] = {}
    for event in events:
        going = event.type == "DELETED" or event.obj["metadata"].get("deletionTimestamp")
        if not going or is_node_identity(event.obj):
            continue
        name = stage(event.obj)
        began[name] = min(began.get(name, revision(event)), revision(event))
        if event.type == "DELETED":
            ended[name] = max(ended.get(name, 0), revision(event))
    assert set(began) == set(policies.DELETION_ORDER), sorted(began)
    for earlier, later in zip(policies.DELETION_ORDER, policies.DELETION_ORDER[1:], strict=False):
        assert ended[earlier] < began[later], f"{later} began going before {earlier} was gone"


def deleting_stages(events: list[Event]) -> list[str]:
    """The stages the Cluster's Deleting condition named, in order, repeats folded."""
    seen: list[str] = []
    for event in events:
        message = condition(event.obj, "Deleting").get("message") or ""
        match = STAGE_MESSAGE.match(message)
        if match and (not seen or seen[-1] != match.group(1)):
            seen.append(match.group(1))
    return seen


def test_deletion_in_order_leaves_nothing_behind(
    local_env: LocalEnv, namespace: str, tmp_path: Path
) -> None:
    name = "d1"
    vault = Vault(local_env.vault_addr, TokenAuth(lambda: local_env.vault_token))
    mount = catalogue.mount_path(namespace, name)
    labelled = ("-l", f"{CLUSTER_LABEL}={name}")
    with suite(local_env, namespace, tmp_path):
        apply(local_env, cluster(name, namespace, workers=1))
        wait_ready(local_env, namespace, name)

        # Everything the checks below look for is there first.
        assert mount in vault.mounts(mount)
        network = children(local_env, namespace, name)["clusternetworks"][0]
        held = {r["data"]["kind"] for r in records(local_env, network["metadata"]["uid"])}
        assert len(held) == 2, f"allocation records of the network: {held}"
        assert volumes_of(local_env, namespace)
        kinds = {kind for kind, _ in listed(local_env, namespace, *labelled)}
        assert {"Secret", "Service", "PersistentVolumeClaim", "StatefulSet", "Deployment"} <= kinds
        assert {"PodDisruptionBudget", "NetworkPolicy"} <= kinds

        with contextlib.ExitStack() as stack:
            watches = [
                stack.enter_context(
                    watching(local_env, namespace, f"{plural}.g8s.io", f"{CLUSTER_LABEL}={name}")
                )
                for plural in CHILD_KINDS
            ]
            cluster_watch = stack.enter_context(watching(local_env, namespace, "clusters.g8s.io"))
            # Certificates: the cluster's own, and a kubelet identity per node.
            counts = (len(catalogue.COMPONENTS) + 2, 1, 1, 2)
            for watch, count in zip(watches, counts, strict=True):
                watch.wait_listed(count)
            cluster_watch.wait_listed(1)
            local_env.kubectl("delete", "-n", namespace, "cluster.g8s.io", name, "--wait=false")
            wait_for(
                lambda: any(e.type == "DELETED" for e in cluster_watch.events()),
                timeout=GONE_TIMEOUT,
                what=f"Cluster {name} gone",
                interval=1.0,
            )
            child_events = [e for w in watches for e in w.events()]
            cluster_events = cluster_watch.events()

        assert deleting_stages(cluster_events) == list(policies.DELETION_ORDER)
        check_children_order(child_events)

        # Deleted means gone: the moment the Cluster has gone, so has everything
        # made for it, down to the pods and volumes (no garbage collector lag).
        assert all(not items for items in children(local_env, namespace, name).values())
        assert not listed(local_env, namespace, *labelled)
        assert listed(local_env, namespace) <= NAMESPACE_DEFAULTS
        assert not volumes_of(local_env, namespace)
        assert mount not in vault.mounts(mount)
        assert records(local_env, network["metadata"]["uid"]) == []
