"""Helpers of the chart RBAC and peering tests: an operator as its chart's ServiceAccount.

``render`` runs the real ``helm template`` of ``charts/<op>``; ``identity``
keeps what gives the operator its rights (ServiceAccounts, ClusterRoles,
Roles and their bindings), ``peering`` the kopf peering objects.
``kubeconfig_for`` writes a kubeconfig that authenticates with a
TokenRequest token of the ServiceAccount (server and CA from the local
environment's own kubeconfig), so a process using it has exactly the chart's
rights. ``can_i`` and ``rules`` ask the API server's authorizer through
``kubectl auth can-i`` with impersonation.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests import localenv
from tests.localenv import BIN, LocalEnv, run

CHARTS = localenv.ROOT / "charts"
HELM = BIN / "helm"
NAMESPACE = localenv.SYSTEM_NAMESPACE
OPERATORS = localenv.OPERATORS
IDENTITY_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
PEERING_KINDS = ("ClusterKopfPeering", "KopfPeering")
PEERING_CRDS = ("clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev")
# kopf's peering CRDs: in the library chart every operator chart depends on.
PEERING_CRDS_FILE = CHARTS / "g8s-common" / "crds" / "kopf-peering.yaml"
# What the RBAC and peering tests apply, so that the objects can be told
# apart from a `helm install` of the same charts.
FIELD_MANAGER = "g8s-rbac-test"

Manifest = list[dict[str, Any]]


def service_account(operator: str) -> str:
    return f"g8s-{operator}"


def user(account: str, namespace: str = NAMESPACE) -> str:
    """The user name the API server gives a ServiceAccount's tokens."""
    return f"system:serviceaccount:{namespace}:{account}"


# --- helm ----------------------------------------------------------------------


def render(operator: str, *flags: str) -> Manifest:
    """``helm template <op> charts/<op> --namespace g8s-system [flags]``, parsed."""
    with tempfile.TemporaryDirectory(prefix="helm-") as home:
        # helm's caches in a throwaway directory, never the user's home.
        env = {
            **os.environ,
            "HELM_CACHE_HOME": f"{home}/cache",
            "HELM_CONFIG_HOME": f"{home}/config",
            "HELM_DATA_HOME": f"{home}/data",
        }
        args = ("template", operator, str(CHARTS / operator), "--namespace", NAMESPACE, *flags)
        out = run([str(HELM), *args], env=env, timeout=120).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def of_kinds(manifest: Iterable[Mapping[str, Any]], kinds: Sequence[str]) -> Manifest:
    return [dict(o) for o in manifest if o.get("kind") in kinds]


def identity(manifest: Iterable[Mapping[str, Any]]) -> Manifest:
    """The ServiceAccounts and RBAC objects of a rendered chart."""
    return of_kinds(manifest, IDENTITY_KINDS)


def peering(manifest: Iterable[Mapping[str, Any]]) -> Manifest:
    """The kopf peering objects of a rendered chart."""
    return of_kinds(manifest, PEERING_KINDS)


def find(manifest: Iterable[Mapping[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [dict(o) for o in manifest if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} rendered"
    return matches[0]


def peering_crds(env: LocalEnv) -> None:
    """kopf's peering CRDs, as the charts install them, installed and Established."""
    env.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(PEERING_CRDS_FILE))
    names = [f"crd/{name}" for name in PEERING_CRDS]
    env.kubectl("wait", "--for=condition=Established", "--timeout=60s", *names)


# --- the API server ------------------------------------------------------------


def as_list(objects: Iterable[Mapping[str, Any]]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)})


def apply(env: LocalEnv, objects: Sequence[Mapping[str, Any]]) -> None:
    env.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        f"--field-manager={FIELD_MANAGER}",
        "-f",
        "-",
        input=as_list(objects),
    )


def delete(env: LocalEnv, objects: Sequence[Mapping[str, Any]]) -> None:
    env.kubectl("delete", "--ignore-not-found", "--wait=false", "-f", "-", input=as_list(objects))


@contextmanager
def installed(env: LocalEnv, objects: Sequence[Mapping[str, Any]]) -> Iterator[None]:
    """``objects`` applied for the duration of the block, deleted afterwards."""
    apply(env, objects)
    try:
        yield
    finally:
        delete(env, objects)


def token(env: LocalEnv, account: str, namespace: str = NAMESPACE) -> str:
    """A TokenRequest token of ``account`` (``kubectl create token``), valid for an hour."""
    out = env.kubectl("create", "token", account, "-n", namespace, "--duration=1h").stdout
    return str(out).strip()


def kubeconfig_for(env: LocalEnv, account: str, path: Path, namespace: str = NAMESPACE) -> Path:
    """Write a kubeconfig at ``path`` that acts as ServiceAccount ``account``.

    Server and CA come from the environment's kubeconfig; the credential is
    only the ServiceAccount's token, no client certificate.
    """
    admin = json.loads(
        env.kubectl("config", "view", "--raw", "--minify", "--flatten", "-o", "json").stdout
    )
    cluster = admin["clusters"][0]["cluster"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "local",
                "cluster": {
                    "server": cluster["server"],
                    "certificate-authority-data": cluster["certificate-authority-data"],
                },
            }
        ],
        "users": [{"name": account, "user": {"token": token(env, account, namespace)}}],
        "contexts": [{"name": account, "context": {"cluster": "local", "user": account}}],
        "current-context": account,
    }
    # JSON is YAML: every kubeconfig reader takes it.
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)
    return path


def whoami(env: LocalEnv, kubeconfig: Path) -> str:
    """The user name the API server sees for ``kubeconfig``'s credential."""
    out = run(
        [str(BIN / "kubectl"), "--kubeconfig", str(kubeconfig), "auth", "whoami", "-o", "json"],
        env=env.env(),
        timeout=60,
    ).stdout
    return str(json.loads(out)["status"]["userInfo"]["username"])


def can_i(env: LocalEnv, subject: str, verb: str, resource: str, namespace: str) -> bool:
    """``kubectl auth can-i VERB RESOURCE --as SUBJECT -n NAMESPACE``: the authorizer's answer."""
    # "pods/eviction" is a subresource here, not can-i's TYPE/NAME.
    kind, _, subresource = resource.partition("/")
    extra = [f"--subresource={subresource}"] if subresource else []
    result = env.kubectl(
        "auth", "can-i", verb, kind, *extra, f"--as={subject}", "-n", namespace, check=False
    )
    answer = result.stdout.strip()
    # can-i exits 1 for "no"; anything else than yes/no is a failed request.
    assert answer in ("yes", "no"), f"can-i {verb} {resource}: {result.stdout}{result.stderr}"
    return answer == "yes"


@dataclass(frozen=True)
class Rule:
    """One row of ``kubectl auth can-i --list``."""

    resources: str
    non_resource_urls: str
    resource_names: str
    verbs: tuple[str, ...]


# Resources, Non-Resource URLs, Resource Names, Verbs; a row of non-resource
# URLs has an empty first column.
_ROW = re.compile(r"^(\S*)\s+(\[.*?\])\s+(\[.*?\])\s+\[(.*)\]\s*$")


def rules(env: LocalEnv, subject: str, namespace: str) -> list[Rule]:
    """Every rule ``subject`` holds in ``namespace`` (its own and the cluster's defaults)."""
    out = env.kubectl("auth", "can-i", "--list", f"--as={subject}", "-n", namespace).stdout
    found = []
    for line in out.splitlines()[1:]:
        match = _ROW.match(line)
        assert match, f"unexpected `can-i --list` row: {line!r}"
        resources, urls, names, verbs = match.groups()
        found.append(Rule(resources, urls, names, tuple(verbs.split())))
    return found


# --- an operator's metrics -------------------------------------------------------


def reconciliations(port: int) -> float:
    """The sum of ``g8s_reconciliations_total`` on an operator's /metrics (0 if none yet)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("g8s_reconciliations_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total
