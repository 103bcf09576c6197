"""Least privilege: each operator works with its chart's rights, and with nothing more.

The five charts are rendered by the real ``helm template`` and only their
ServiceAccounts, RBAC objects and peering objects are applied to the local
environment's API server, which enforces RBAC (Node,RBAC authorization).

Covered:

- each of the five operators runs as a process (cluster-wide, with peering,
  as the charts run them) with a kubeconfig holding nothing but a
  TokenRequest token of its chart's ServiceAccount; a Cluster reaches Ready
  through all of them, and deleting it removes it with every child CR and
  its Secrets; no operator logs a 403 or a "forbidden";
- ``kubectl auth can-i`` as each ServiceAccount: a table of what each one
  needs (allowed) and of what it must not do (denied), e.g. certificates
  cannot touch Deployments, StatefulSets or ConfigMaps, network cannot read
  Secrets, etcd cannot create Deployments or KVMNodes, kvm cannot create
  StatefulSets or read Clusters, cluster cannot create Deployments or
  StatefulSets, and none can write RBAC objects, impersonate, or do ``*``
  on ``*``;
- ``kubectl auth can-i --list`` as each ServiceAccount shows no wildcard verb,
  resource or API group among its resource rules.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.api import certificates as catalogue
from tests.integration.charts import serviceaccount as sa
from tests.localenv import LocalEnv
from tests.localenv import get_json as get
from tests.operators import RunningOperator, running_operator, wait_for
from tests.volumes import running_provisioner

AGENT = "g8s-network-agent"
READY_TIMEOUT = 240.0
CHILD_KINDS = ("certificates", "etcdclusters", "clusternetworks", "kvmnodes")
# A denial the operator logged: kopf's and the client's 403 errors both say
# "Forbidden"; a bare 403 status code is matched as a word of its own.
DENIED = re.compile(r"forbidden|(?<![\w.:-])403(?![\w.:-])", re.IGNORECASE)


@pytest.fixture(scope="module")
def charts(local_env: LocalEnv, crds: Path) -> Iterator[dict[str, sa.Manifest]]:
    """Every chart's ServiceAccounts, RBAC and peering objects, applied; removed afterwards."""
    sa.peering_crds(local_env)
    rendered = {op: sa.render(op) for op in sa.OPERATORS}
    objects = [o for manifest in rendered.values() for o in sa.identity(manifest)]
    objects += [o for manifest in rendered.values() for o in sa.peering(manifest)]
    with sa.installed(local_env, objects):
        yield rendered


def test_the_charts_run_their_operators_as_these_service_accounts(
    charts: dict[str, sa.Manifest],
) -> None:
    # What the rest of this module grants and checks is what the pods get.
    for operator, manifest in charts.items():
        name = sa.service_account(operator)
        deployment = sa.find(manifest, "Deployment", name)
        assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == name
        binding = sa.find(manifest, "ClusterRoleBinding", name)
        assert binding["roleRef"]["name"] == name
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": name, "namespace": sa.NAMESPACE}
        ]
    daemonset = sa.find(charts["network"], "DaemonSet", AGENT)
    assert daemonset["spec"]["template"]["spec"]["serviceAccountName"] == AGENT


# --- the whole suite, each operator with its chart's rights -------------------------


def cluster(name: str, namespace: str) -> str:
    return json.dumps(
        {
            "apiVersion": "g8s.io/v1alpha1",
            "kind": "Cluster",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"baseDomain": f"{name}.g8s.local", "workers": {"replicas": 1}},
        }
    )


def ready(env: LocalEnv, namespace: str, name: str) -> dict[str, Any] | None:
    obj = get(env, namespace, "clusters.g8s.io", name)
    status = obj.get("status") or {}
    conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
    observed = status.get("observedGeneration") == obj["metadata"]["generation"]
    return obj if conditions.get("Ready") == "True" and observed else None


def children(env: LocalEnv, namespace: str, name: str) -> dict[str, list[dict[str, Any]]]:
    selector = f"g8s.io/cluster={name}"
    return {
        plural: list(get(env, namespace, f"{plural}.g8s.io", "-l", selector)["items"])
        for plural in CHILD_KINDS
    }


def denials(log: str) -> list[str]:
    return [line for line in log.splitlines() if DENIED.search(line)]


@contextlib.contextmanager
def suite_as_service_accounts(env: LocalEnv, log_dir: Path) -> Iterator[dict[str, RunningOperator]]:
    """The five operators, cluster-wide and peering, each as its chart's ServiceAccount."""
    with contextlib.ExitStack() as stack:
        running = {}
        for operator in sa.OPERATORS:
            account = sa.service_account(operator)
            kubeconfig = sa.kubeconfig_for(env, account, log_dir / f"{operator}.kubeconfig")
            assert sa.whoami(env, kubeconfig) == sa.user(account)
            process_env = {**env.env(), "KUBECONFIG": str(kubeconfig), "G8S_PEERING": "true"}
            running[operator] = stack.enter_context(
                # No namespace: G8S_NAMESPACES empty, the whole cluster, as in the charts.
                running_operator(operator, env=process_env, namespace="", log_dir=log_dir)
            )
        try:
            yield running
        except BaseException:
            for op in running.values():
                print(f"===== {op.name} log (tail) =====\n{op.log()[-6000:]}")
            raise


def test_suite_reconciles_a_cluster_with_the_charts_rights(
    local_env: LocalEnv, charts: dict[str, sa.Manifest], namespace: str, tmp_path: Path
) -> None:
    with (
        running_provisioner(local_env, tmp_path),
        suite_as_service_accounts(local_env, tmp_path) as running,
    ):
        local_env.kubectl("apply", "-f", "-", input=cluster("c1", namespace))
        obj = wait_for(
            lambda: ready(local_env, namespace, "c1"),
            timeout=READY_TIMEOUT,
            what="Cluster c1 Ready",
            interval=1.0,
        )
        assert obj["status"]["phase"] == "Provisioned"
        # Each holds its chart's ClusterKopfPeering (its keep-alive is in it).
        for name in sa.OPERATORS:
            peering = local_env.kubectl(
                "get", "clusterkopfpeerings.kopf.dev", f"g8s-{name}", "-o", "json"
            ).stdout
            assert len(json.loads(peering).get("status") or {}) == 1, name
        found = children(local_env, namespace, "c1")
        by_component: dict[str, int] = {}
        for item in found["certificates"]:
            component = item["spec"]["component"]
            by_component[component] = by_component.get(component, 0) + 1
        # The cluster's own certificates, and one kubelet identity per node (kvm operator).
        assert by_component.pop(catalogue.NODE) == len(found["kvmnodes"]) == 2
        assert sorted(by_component) == sorted(catalogue.COMPONENTS)
        assert set(by_component.values()) == {1}
        assert len(found["etcdclusters"]) == len(found["clusternetworks"]) == 1
        for plural, items in found.items():
            for item in items:
                conditions = {c["type"]: c["status"] for c in item["status"]["conditions"]}
                assert conditions["Ready"] == "True", f"{plural}/{item['metadata']['name']}"
        secrets = {s["metadata"]["name"] for s in get(local_env, namespace, "secrets")["items"]}
        assert {"c1-kubeconfig", "c1-encryption", "c1-ca"} <= secrets

        local_env.kubectl("delete", "-n", namespace, "clusters.g8s.io", "c1", "--wait=false")
        wait_for(
            lambda: not get(local_env, namespace, "clusters.g8s.io")["items"],
            timeout=READY_TIMEOUT,
            what="Cluster c1 gone",
            interval=1.0,
        )
        assert all(not items for items in children(local_env, namespace, "c1").values())
        left = {s["metadata"]["name"] for s in get(local_env, namespace, "secrets")["items"]}
        assert not {n for n in left if n.startswith("c1-")}

        for operator in running.values():
            assert operator.process.poll() is None, f"the {operator.name} operator exited"
            assert "starting operator" in operator.log(), operator.name
            assert denials(operator.log()) == [], f"{operator.name} was denied something"


# --- can-i: what each ServiceAccount may and may not do -----------------------------

# Where the table's rights are asked: any namespace but g8s-system (the
# authorizer does not care whether it exists; "default" always does).
ELSEWHERE = "default"

# (operator, verb, resource, expected) in namespace ELSEWHERE; "network-agent"
# is the network chart's host agent. Positive rows: what the operator's work
# needs (see each chart's clusterrole.yaml); negative rows: neighbours' work
# and everything an operator never needs.
MATRIX: list[tuple[str, str, str, bool]] = [
    # cluster: its Clusters, the child CRs, its Secrets and API Service.
    ("cluster", "watch", "clusters.g8s.io", True),
    ("cluster", "patch", "clusters.g8s.io/status", True),
    ("cluster", "create", "certificates.g8s.io", True),
    ("cluster", "create", "etcdclusters.g8s.io", True),
    ("cluster", "create", "clusternetworks.g8s.io", True),
    ("cluster", "delete", "kvmnodes.g8s.io", True),
    ("cluster", "create", "secrets", True),
    ("cluster", "create", "services", True),
    ("cluster", "get", "kvmnodes.g8s.io", True),
    ("cluster", "get", "services", True),
    ("cluster", "create", "events", True),
    ("cluster", "create", "deployments.apps", False),
    ("cluster", "create", "statefulsets.apps", False),
    ("cluster", "create", "clusters.g8s.io", False),
    ("cluster", "delete", "clusters.g8s.io", False),
    ("cluster", "list", "secrets", False),
    ("cluster", "patch", "certificates.g8s.io/status", False),
    ("cluster", "get", "configmaps", False),
    # certificates: its Certificates and their Secrets; the rest is in Vault.
    ("certificates", "watch", "certificates.g8s.io", True),
    ("certificates", "patch", "certificates.g8s.io/status", True),
    ("certificates", "get", "secrets", True),
    ("certificates", "create", "secrets", True),
    ("certificates", "delete", "secrets", True),
    ("certificates", "create", "deployments.apps", False),
    ("certificates", "get", "deployments.apps", False),
    ("certificates", "create", "statefulsets.apps", False),
    ("certificates", "get", "statefulsets.apps", False),
    ("certificates", "get", "configmaps", False),
    ("certificates", "watch", "secrets", True),
    ("certificates", "list", "configmaps", False),
    ("certificates", "create", "certificates.g8s.io", False),
    ("certificates", "get", "clusters.g8s.io", True),
    # etcd: its EtcdClusters, their StatefulSet, Services, PDB, members ConfigMap.
    ("etcd", "watch", "etcdclusters.g8s.io", True),
    ("etcd", "patch", "etcdclusters.g8s.io/status", True),
    ("etcd", "create", "statefulsets.apps", True),
    ("etcd", "watch", "statefulsets.apps", True),
    ("etcd", "create", "services", True),
    ("etcd", "create", "configmaps", True),
    ("etcd", "create", "poddisruptionbudgets.policy", True),
    ("etcd", "get", "poddisruptionbudgets.policy", True),
    ("etcd", "get", "configmaps", True),
    ("etcd", "get", "secrets", True),
    ("etcd", "delete", "pods", True),
    ("etcd", "create", "deployments.apps", False),
    ("etcd", "create", "kvmnodes.g8s.io", False),
    ("etcd", "create", "secrets", False),
    ("etcd", "list", "secrets", True),
    ("etcd", "watch", "secrets", True),
    ("etcd", "delete", "statefulsets.apps", True),
    # Its own children watched, so a refresh reads no unchanged one (shared/kube/versions.py).
    ("etcd", "watch", "services", True),
    ("etcd", "watch", "configmaps", True),
    ("etcd", "watch", "poddisruptionbudgets.policy", True),
    ("etcd", "get", "clusters.g8s.io", False),
    # network: its ClusterNetworks, NetworkPolicies, host Nodes; records in g8s-system only.
    ("network", "watch", "clusternetworks.g8s.io", True),
    ("network", "patch", "clusternetworks.g8s.io/status", True),
    ("network", "create", "networkpolicies.networking.k8s.io", True),
    ("network", "get", "networkpolicies.networking.k8s.io", True),
    ("network", "list", "nodes", True),
    ("network", "get", "secrets", False),
    ("network", "list", "secrets", False),
    ("network", "create", "configmaps", False),
    ("network", "create", "deployments.apps", False),
    ("network", "create", "daemonsets.apps", False),
    ("network", "patch", "nodes", False),
    # kvm: its KVMNodes, their Deployment, Ignition Secret and disk claim.
    ("kvm", "watch", "kvmnodes.g8s.io", True),
    ("kvm", "patch", "kvmnodes.g8s.io/status", True),
    ("kvm", "create", "deployments.apps", True),
    ("kvm", "create", "persistentvolumeclaims", True),
    ("kvm", "get", "persistentvolumeclaims", True),
    ("kvm", "get", "deployments.apps", True),
    ("kvm", "create", "secrets", True),
    ("kvm", "get", "clusternetworks.g8s.io", True),
    ("kvm", "list", "pods", True),
    ("kvm", "get", "nodes", True),
    ("kvm", "list", "nodes", False),
    ("kvm", "create", "statefulsets.apps", False),
    ("kvm", "get", "clusters.g8s.io", False),
    ("kvm", "list", "secrets", True),
    ("kvm", "watch", "secrets", True),
    ("kvm", "delete", "secrets", True),
    ("kvm", "watch", "persistentvolumeclaims", True),
    ("kvm", "watch", "certificates.g8s.io", True),
    ("kvm", "watch", "deployments.apps", True),
    ("kvm", "watch", "clusternetworks.g8s.io", True),
    ("kvm", "watch", "services", True),
    ("kvm", "create", "services", False),
    # Deleted means gone (shared/teardown.py): what a KVMNode made is deleted
    # and listed, with what the controllers made from it, until it is gone.
    ("kvm", "delete", "deployments.apps", True),
    ("kvm", "delete", "certificates.g8s.io", True),
    ("kvm", "list", "replicasets.apps", True),
    ("kvm", "list", "persistentvolumes", True),
    ("kvm", "get", "persistentvolumes", True),
    ("etcd", "get", "persistentvolumes", True),
    ("kvm", "delete", "persistentvolumes", False),
    ("etcd", "list", "pods", True),
    ("etcd", "delete", "services", True),
    ("network", "delete", "networkpolicies.networking.k8s.io", True),
    ("kvm", "create", "pods/eviction", False),
    ("kvm", "patch", "clusternetworks.g8s.io", False),
    # The network agent: only its hosts' entries of ClusterNetwork status.
    ("network-agent", "watch", "clusternetworks.g8s.io", True),
    ("network-agent", "patch", "clusternetworks.g8s.io/status", True),
    ("network-agent", "watch", "nodes", True),
    ("network-agent", "patch", "clusternetworks.g8s.io", False),
    ("network-agent", "get", "secrets", False),
    ("network-agent", "create", "configmaps", False),
]
ACCOUNTS = (*sa.OPERATORS, "network-agent")
# Nobody may change RBAC, borrow another identity, or do everything.
MATRIX += [
    (who, verb, resource, False)
    for who in ACCOUNTS
    for verb, resource in (
        ("create", "clusterroles.rbac.authorization.k8s.io"),
        ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
        ("create", "rolebindings.rbac.authorization.k8s.io"),
        ("escalate", "clusterroles.rbac.authorization.k8s.io"),
        ("bind", "clusterroles.rbac.authorization.k8s.io"),
        ("impersonate", "serviceaccounts"),
        ("create", "serviceaccounts/token"),
        ("*", "*"),
    )
]

# (operator, verb, resource, namespace, expected): rights that depend on the namespace.
NAMESPACED: list[tuple[str, str, str, str, bool]] = [
    # The allocation records: in g8s-system (a Role), nowhere else.
    ("network", "create", "configmaps", sa.NAMESPACE, True),
    ("network", "delete", "configmaps", sa.NAMESPACE, True),
    ("network", "list", "configmaps", sa.NAMESPACE, True),
    ("network", "create", "configmaps", ELSEWHERE, False),
    ("network", "list", "configmaps", ELSEWHERE, False),
    # Peering: the cluster-wide operators' ClusterKopfPeering, no namespaced one.
    ("etcd", "patch", "clusterkopfpeerings.kopf.dev", sa.NAMESPACE, True),
    ("etcd", "create", "clusterkopfpeerings.kopf.dev", sa.NAMESPACE, False),
    ("etcd", "patch", "kopfpeerings.kopf.dev", ELSEWHERE, False),
]


def subject(who: str) -> str:
    account = AGENT if who == "network-agent" else sa.service_account(who)
    return sa.user(account)


def row_id(row: tuple[object, ...]) -> str:
    return "-".join(str(v).replace("*", "all") for v in row)


@pytest.mark.parametrize("row", MATRIX, ids=row_id)
def test_can_i(
    local_env: LocalEnv,
    charts: dict[str, sa.Manifest],
    row: tuple[str, str, str, bool],
) -> None:
    who, verb, resource, expected = row
    assert sa.can_i(local_env, subject(who), verb, resource, ELSEWHERE) is expected


@pytest.mark.parametrize("row", NAMESPACED, ids=row_id)
def test_can_i_in_namespace(
    local_env: LocalEnv, charts: dict[str, sa.Manifest], row: tuple[str, str, str, str, bool]
) -> None:
    who, verb, resource, where, expected = row
    assert sa.can_i(local_env, subject(who), verb, resource, where) is expected


@pytest.mark.parametrize("who", ACCOUNTS)
def test_no_wildcard_rights(local_env: LocalEnv, charts: dict[str, sa.Manifest], who: str) -> None:
    rules = sa.rules(local_env, subject(who), ELSEWHERE)
    resource_rules = [r for r in rules if r.resources]
    # The list holds the chart's rules (so the check below looks at something).
    assert any(".g8s.io" in r.resources for r in resource_rules), rules
    for rule in resource_rules:
        assert "*" not in rule.verbs, rule
        assert not rule.resources.startswith("*"), rule
        assert not rule.resources.endswith(".*"), rule
