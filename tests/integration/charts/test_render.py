"""The five operator charts, rendered by the real helm and checked by the real API server.

Covers: ``helm lint --strict`` is clean for every chart; ``helm template <op>
charts/<op> --namespace g8s-system`` renders the objects of the naming
contract (ServiceAccount, ClusterRole, ClusterRoleBinding and Deployment
``g8s-<op>``, Service ``g8s-<op>-metrics``, the ClusterKopfPeering
``g8s-<op>``; the network chart also the agent's DaemonSet, ServiceAccount
and ClusterRole/Binding ``g8s-network-agent`` and the allocation
Role/RoleBinding), every object with the standard labels; the operator pod is
hardened (non-root, read-only root filesystem, all capabilities dropped,
RuntimeDefault seccomp; the agent is root with NET_ADMIN only), its probes ask
kopf's ``/healthz`` on ``G8S_HEALTH_PORT``, the Service serves
``G8S_METRICS_PORT``, peering sets ``G8S_PEERING=true`` with a RollingUpdate
(Recreate without it); ``env`` overrides a derived variable. The API server
accepts every rendering (server-side apply, dry run): the defaults and
variants (namespaced with KopfPeerings, Vault token auth, etcd backups, the
agent off). Invalid values are refused with a message naming the value.
``make install`` installs the five charts into g8s-system with the local
environment's settings, their workloads roll out on the simulated hosts, and
``make uninstall`` removes them.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import localenv
from tests.localenv import BIN, OPERATOR_SETTINGS, LocalEnv, run

ROOT = Path(__file__).resolve().parents[3]
CHARTS = ROOT / "charts"
HELM = BIN / "helm"
NAMESPACE = localenv.SYSTEM_NAMESPACE
OPERATORS = ("cluster", "certificates", "etcd", "network", "kvm")
STANDARD_LABELS = {
    "app.kubernetes.io/part-of": "g8s",
    "app.kubernetes.io/managed-by": "Helm",
}
PEERING_CRDS = ("clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev")
# kopf's peering CRDs: in the library chart every operator chart depends on.
PEERING_CRDS_FILE = CHARTS / "g8s-common" / "crds" / "kopf-peering.yaml"

Manifest = list[dict[str, Any]]


@pytest.fixture(scope="module")
def helm_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """helm's environment: its caches in a temporary directory, not the user's home."""
    if not os.access(HELM, os.X_OK):
        pytest.fail(f"{HELM} is missing: run `make tools`", pytrace=False)
    home = tmp_path_factory.mktemp("helm")
    return {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }


def helm(env: Mapping[str, str], *args: str, check: bool = True) -> Any:
    return run([str(HELM), *args], env=dict(env), check=check, timeout=120)


def template(env: Mapping[str, str], operator: str, *flags: str) -> str:
    args = ("template", operator, str(CHARTS / operator), "--namespace", NAMESPACE, *flags)
    return str(helm(env, *args).stdout)


def render(env: Mapping[str, str], operator: str, *flags: str) -> Manifest:
    return [doc for doc in yaml.safe_load_all(template(env, operator, *flags)) if doc]


def find(manifest: Manifest, kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in manifest if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} rendered"
    return matches[0]


def env_of(container: Mapping[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env") or [] if "value" in e}


@pytest.fixture(scope="module")
def peering_crds(local_env: LocalEnv) -> None:
    """kopf's peering CRDs from the charts, installed for real (the peering objects need them)."""
    local_env.kubectl("apply", "--server-side", "-f", str(PEERING_CRDS_FILE))
    names = [f"crd/{name}" for name in PEERING_CRDS]
    local_env.kubectl("wait", "--for=condition=Established", "--timeout=60s", *names)


def dry_run(local_env: LocalEnv, manifest: str) -> list[str]:
    """Server-side apply ``manifest`` as a dry run; the lines kubectl printed."""
    result = local_env.kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "--field-manager=g8s-chart-test",
        "-f",
        "-",
        input=manifest,
    )
    return [line for line in result.stdout.splitlines() if line.strip()]


def expected_objects(operator: str) -> set[tuple[str, str]]:
    name = f"g8s-{operator}"
    found = {
        ("ServiceAccount", name),
        ("ClusterRole", name),
        ("ClusterRoleBinding", name),
        ("Deployment", name),
        ("Service", f"{name}-metrics"),
        ("ClusterKopfPeering", name),
    }
    if operator == "network":
        agent = "g8s-network-agent"
        found |= {
            ("Role", name),
            ("RoleBinding", name),
            ("ServiceAccount", agent),
            ("ClusterRole", agent),
            ("ClusterRoleBinding", agent),
            ("DaemonSet", agent),
        }
    return found


@pytest.mark.parametrize("operator", OPERATORS)
def test_lint_strict_is_clean(helm_env: dict[str, str], operator: str) -> None:
    result = helm(helm_env, "lint", "--strict", str(CHARTS / operator), check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("operator", OPERATORS)
def test_renders_the_naming_contract(helm_env: dict[str, str], operator: str) -> None:
    manifest = render(helm_env, operator)
    assert {(o["kind"], o["metadata"]["name"]) for o in manifest} == expected_objects(operator)
    for obj in manifest:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == f"g8s-{operator}"
        assert STANDARD_LABELS.items() <= labels.items(), obj["metadata"]["name"]
        namespaced = obj["kind"] not in ("ClusterRole", "ClusterRoleBinding", "ClusterKopfPeering")
        assert (obj["metadata"].get("namespace") == NAMESPACE) == namespaced
    binding = find(manifest, "ClusterRoleBinding", f"g8s-{operator}")
    assert binding["roleRef"]["name"] == f"g8s-{operator}"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": f"g8s-{operator}", "namespace": NAMESPACE}
    ]


@pytest.mark.parametrize("operator", OPERATORS)
def test_operator_pod(helm_env: dict[str, str], operator: str) -> None:
    manifest = render(helm_env, operator)
    deployment = find(manifest, "Deployment", f"g8s-{operator}")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == f"g8s-{operator}"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    assert container["image"] == "ghcr.io/g8s/operators:0.1.0"
    assert container["args"] == [f"operators.{operator}"]
    hardened = container["securityContext"]
    assert hardened["readOnlyRootFilesystem"] is True
    assert hardened["allowPrivilegeEscalation"] is False
    assert hardened["capabilities"] == {"drop": ["ALL"]}
    variables = env_of(container)
    assert variables["G8S_PEERING"] == "true"
    assert variables["G8S_NAMESPACES"] == ""
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {
        "metrics": int(variables["G8S_METRICS_PORT"]),
        "health": int(variables["G8S_HEALTH_PORT"]),
    }
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]
    service = find(manifest, "Service", f"g8s-{operator}-metrics")
    (port,) = service["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (ports["metrics"], "metrics")
    selector = service["spec"]["selector"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert selector == deployment["spec"]["selector"]["matchLabels"]


def test_without_peering_one_pod_at_a_time(helm_env: dict[str, str]) -> None:
    manifest = render(helm_env, "etcd", "--set", "peering.enabled=false")
    deployment = find(manifest, "Deployment", "g8s-etcd")
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert env_of(deployment["spec"]["template"]["spec"]["containers"][0])["G8S_PEERING"] == (
        "false"
    )
    assert not [o for o in manifest if o["kind"].endswith("KopfPeering")]
    rules = find(manifest, "ClusterRole", "g8s-etcd")["rules"]
    assert not [r for r in rules if "kopf.dev" in r["apiGroups"]]


def test_env_overrides_derived_variables(helm_env: dict[str, str]) -> None:
    flags = [arg for k, v in OPERATOR_SETTINGS.items() for arg in ("--set-string", f"env.{k}={v}")]
    for operator, variable in (
        ("etcd", "G8S_ETCD_PROBE_MEMBERS"),
        ("network", "G8S_NETWORK_REQUIRE_HOSTS"),
        ("kvm", "G8S_KVM_GUEST_CHECKS"),
    ):
        default = render(helm_env, operator)
        local = render(helm_env, operator, *flags)
        container = find(local, "Deployment", f"g8s-{operator}")["spec"]["template"]["spec"][
            "containers"
        ][0]
        names = [e["name"] for e in container["env"]]
        assert len(names) == len(set(names)), "a variable is set twice"
        assert env_of(container)[variable] == "false"
        before = find(default, "Deployment", f"g8s-{operator}")["spec"]["template"]["spec"]
        assert env_of(before["containers"][0])[variable] == "true"


def test_network_agent(helm_env: dict[str, str]) -> None:
    manifest = render(helm_env, "network")
    agent = find(manifest, "DaemonSet", "g8s-network-agent")
    pod = agent["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True
    assert pod["serviceAccountName"] == "g8s-network-agent"
    (container,) = pod["containers"]
    assert container["args"] == ["operators.network.agent"]
    hardened = container["securityContext"]
    assert hardened["capabilities"] == {"drop": ["ALL"], "add": ["NET_ADMIN"]}
    assert hardened["readOnlyRootFilesystem"] is True
    assert hardened["allowPrivilegeEscalation"] is False
    variables = env_of(container)
    # Every host's agent acts: peering would leave all but one idle.
    assert variables["G8S_PEERING"] == "false"
    node = [e for e in container["env"] if e["name"] == "G8S_AGENT_NODE_NAME"]
    assert node == [
        {"name": "G8S_AGENT_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
    ]
    role = find(manifest, "Role", "g8s-network")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "verbs": ["get", "list", "create", "delete"],
        }
    ]
    operator_env = env_of(
        find(manifest, "Deployment", "g8s-network")["spec"]["template"]["spec"]["containers"][0]
    )
    assert operator_env["G8S_NETWORK_ALLOCATION_NAMESPACE"] == NAMESPACE
    off = render(helm_env, "network", "--set", "agent.enabled=false")
    assert not [o for o in off if o["metadata"]["name"] == "g8s-network-agent"]


def variants(namespace: str) -> Iterator[tuple[str, list[str]]]:
    """Non-default renderings worth showing the API server."""
    yield "cluster", ["--set", f"namespaces={{{namespace}}}", "--set", "replicas=2"]
    yield (
        "certificates",
        [
            "--set",
            "vault.auth=token",
            "--set-string",
            "vault.token.value=t0ken",
            "--set",
            "vault.caSecret=vault-ca",
        ],
    )
    yield "certificates", ["--set", "vault.kubernetes.authDelegator=true"]
    yield "etcd", ["--set", "etcd.backup.claimName=etcd-backups", "--set", "etcd.image=etcd:x"]
    yield "network", ["--set", "agent.enabled=false", "--set", f"namespaces={{{namespace}}}"]
    yield "kvm", ["--set", "peering.enabled=false", "--set", "kvm.guestChecks=false"]


@pytest.mark.parametrize("operator", OPERATORS)
def test_server_accepts_the_defaults(
    local_env: LocalEnv, crds: Path, peering_crds: None, helm_env: dict[str, str], operator: str
) -> None:
    lines = dry_run(local_env, template(helm_env, operator))
    assert len(lines) == len(expected_objects(operator))
    assert all(line.endswith("serverside-applied (server dry run)") for line in lines), lines


def test_server_accepts_the_variants(
    local_env: LocalEnv, namespace: str, peering_crds: None, helm_env: dict[str, str]
) -> None:
    for operator, flags in variants(namespace):
        manifest = template(helm_env, operator, *flags)
        lines = dry_run(local_env, manifest)
        assert len(lines) == len([d for d in yaml.safe_load_all(manifest) if d]), operator
    delegator = render(helm_env, "certificates", "--set", "vault.kubernetes.authDelegator=true")
    binding = find(delegator, "ClusterRoleBinding", "g8s-certificates-auth-delegator")
    assert binding["roleRef"]["name"] == "system:auth-delegator"
    cluster = render(helm_env, "cluster", *next(variants(namespace))[1])
    peering = find(cluster, "KopfPeering", "g8s-cluster")
    assert peering["metadata"]["namespace"] == namespace
    rules = find(cluster, "ClusterRole", "g8s-cluster")["rules"]
    assert {
        "apiGroups": ["kopf.dev"],
        "resources": ["kopfpeerings"],
        "verbs": ["get", "list", "watch", "patch"],
    } in rules
    assert {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]} in rules


def test_certificates_token_is_a_mounted_file(helm_env: dict[str, str]) -> None:
    flags = ["--set", "vault.auth=token", "--set-string", "vault.token.value=t0ken"]
    manifest = render(helm_env, "certificates", *flags)
    secret = find(manifest, "Secret", "g8s-certificates-vault-token")
    assert secret["stringData"] == {"token": "t0ken"}
    pod = find(manifest, "Deployment", "g8s-certificates")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    variables = env_of(container)
    assert "t0ken" not in json.dumps(container)
    assert variables["G8S_VAULT_AUTH"] == "token"
    path = Path(variables["G8S_VAULT_TOKEN_FILE"])
    mount = [m for m in container["volumeMounts"] if m["name"] == "vault-token"]
    assert mount == [{"name": "vault-token", "mountPath": str(path.parent), "readOnly": True}]
    volume = next(v for v in pod["volumes"] if v["name"] == "vault-token")
    assert volume["secret"]["secretName"] == "g8s-certificates-vault-token"


def refused(env: Mapping[str, str], operator: str, *flags: str) -> str:
    args = ("template", operator, str(CHARTS / operator), "--namespace", NAMESPACE, *flags)
    result = helm(env, *args, check=False)
    assert result.returncode != 0, f"{flags} rendered:\n{result.stdout[:500]}"
    return str(result.stderr)


@pytest.mark.parametrize("operator", OPERATORS)
def test_invalid_values_are_refused(helm_env: dict[str, str], operator: str) -> None:
    message = refused(helm_env, operator, "--set", "replicas=-1")
    assert "schema" in message
    assert "/replicas" in message
    assert "minimum" in message
    message = refused(helm_env, operator, "--set", "replica=2")
    assert "replica" in message
    assert "additional properties" in message.lower()
    message = refused(helm_env, operator, "--set", "replicas=2", "--set", "peering.enabled=false")
    assert "replicas > 1 needs peering.enabled=true" in message


def test_certificates_token_auth_needs_a_token(helm_env: dict[str, str]) -> None:
    message = refused(helm_env, "certificates", "--set", "vault.auth=token")
    assert "vault.auth=token needs vault.token.secretName" in message
    message = refused(helm_env, "certificates", "--set", "vault.auth=approle")
    assert "/vault/auth" in message


def make(env: Mapping[str, str], target: str) -> None:
    # The prerequisites are there (make tools); never let a newer
    # pyproject.toml send the test into a pip install.
    stamps = [ROOT / ".venv" / ".g8s-installed", *(ROOT / ".tools" / "stamps").glob("helm-*")]
    old = [f"--assume-old={stamp}" for stamp in stamps]
    run(["make", "-C", str(ROOT), *old, target], env=dict(env), timeout=300)


def workloads(local_env: LocalEnv) -> list[str]:
    result = local_env.kubectl(
        "get",
        "deployments,daemonsets,clusterroles,clusterrolebindings,clusterkopfpeerings",
        "-A",
        "-l",
        "app.kubernetes.io/part-of=g8s,app.kubernetes.io/managed-by=Helm",
        "-o",
        "name",
    )
    return sorted(result.stdout.split())


def test_make_install_and_uninstall(
    local_env: LocalEnv, crds: Path, peering_crds: None, helm_env: dict[str, str]
) -> None:
    # No KUBECONFIG of one's own: `make install` takes the local environment's
    # path (the real node, the images built here, tests/install.py's values).
    env = {**local_env.env(), **{k: v for k, v in helm_env.items() if k.startswith("HELM_")}}
    make_env = {k: v for k, v in env.items() if k != "KUBECONFIG"} | {
        "G8S_ENV_NAME": local_env.name
    }
    try:
        make(make_env, "install")
        releases = json.loads(
            helm(env, "list", "--namespace", NAMESPACE, "--output", "json").stdout
        )
        assert {(r["name"], r["chart"], r["status"]) for r in releases} == {
            (op, f"g8s-{op}-0.1.0", "deployed") for op in OPERATORS
        }
        for operator in OPERATORS:
            local_env.kubectl(
                "rollout", "status", f"deployment/g8s-{operator}", "-n", NAMESPACE, "--timeout=120s"
            )
        local_env.kubectl(
            "rollout", "status", "daemonset/g8s-network-agent", "-n", NAMESPACE, "--timeout=120s"
        )
        assert_vault_settings(local_env)
        # Five Deployments, the agent's DaemonSet, six ClusterRoles and their
        # bindings (the agent's included), five ClusterKopfPeerings.
        assert len(workloads(local_env)) == 5 + 1 + 6 + 6 + 5
    finally:
        make(make_env, "uninstall")
    assert workloads(local_env) == []


def deployment_env(local_env: LocalEnv, operator: str) -> dict[str, str]:
    deployment = json.loads(
        local_env.kubectl(
            "get", "deployment", f"g8s-{operator}", "-n", NAMESPACE, "-o", "json"
        ).stdout
    )
    return env_of(deployment["spec"]["template"]["spec"]["containers"][0])


def assert_vault_settings(local_env: LocalEnv) -> None:
    """The certificates operator got the local environment's Vault, with token auth."""
    certificates = deployment_env(local_env, "certificates")
    assert certificates["G8S_VAULT_ADDR"] == local_env.vault_addr
    assert certificates["G8S_VAULT_AUTH"] == "token"
    secret = json.loads(
        local_env.kubectl(
            "get", "secret", "g8s-certificates-vault-token", "-n", NAMESPACE, "-o", "json"
        ).stdout
    )
    assert base64.b64decode(secret["data"]["token"]).decode() == local_env.vault_token
