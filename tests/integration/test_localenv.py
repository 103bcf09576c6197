"""The local environment, as `make up` and the `local_env` fixture start it.

See docs/design.md#the-local-environment.

Covers: the real kube-apiserver (built from the Kubernetes Go modules) answers
/readyz and reports the pinned version; the simulated host nodes exist and are
Ready; a host pod gets scheduled onto one and reaches Running without a
container runtime; OpenBao in dev mode answers with the environment's token;
a second `up` finds the running environment instead of starting another.
"""

from __future__ import annotations

import json
import secrets

import hvac

from tests import hostnode, localenv, processes


def test_api_server_is_ready(local_env: localenv.LocalEnv) -> None:
    result = local_env.kubectl("get", "--raw", "/readyz")
    assert result.stdout.strip() == "ok"


def test_api_server_runs_the_pinned_version(local_env: localenv.LocalEnv) -> None:
    result = local_env.kubectl("version", "--output=json")
    assert json.loads(result.stdout)["serverVersion"]["gitVersion"] == localenv.KUBE_VERSION


def test_simulated_hosts_are_listed_and_ready(local_env: localenv.LocalEnv) -> None:
    selector = f"{hostnode.HOST_LABEL}!={hostnode.HOST_LABEL_VALUE}"
    nodes = json.loads(local_env.kubectl("get", "nodes", "-l", selector, "--output=json").stdout)[
        "items"
    ]
    assert len(nodes) == localenv.HOST_NODES
    for node in nodes:
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready, node["metadata"]["name"]
        assert ready[0]["status"] == "True", node["metadata"]["name"]
    listed = local_env.kubectl("get", "nodes").stdout
    for node in nodes:
        assert node["metadata"]["name"] in listed


def test_host_pod_is_scheduled_and_runs(local_env: localenv.LocalEnv) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "localenv-probe", "namespace": "default"},
        "spec": {"containers": [{"name": "probe", "image": "example.invalid/probe:1"}]},
    }
    local_env.kubectl("apply", "--filename=-", input=json.dumps(pod))
    try:
        local_env.kubectl(
            "wait",
            "--for=jsonpath={.status.phase}=Running",
            "pod/localenv-probe",
            "--namespace=default",
            "--timeout=60s",
        )
        placed = local_env.kubectl(
            "get", "pod/localenv-probe", "--namespace=default", "--output=json"
        )
        assert json.loads(placed.stdout)["spec"]["nodeName"]
    finally:
        local_env.kubectl(
            "delete",
            "pod/localenv-probe",
            "--namespace=default",
            "--wait=false",
            "--ignore-not-found",
        )


def test_vault_answers_with_the_token(local_env: localenv.LocalEnv) -> None:
    client = hvac.Client(url=local_env.vault_addr, token=local_env.vault_token)
    assert client.is_authenticated()
    health = client.sys.read_health_status(method="GET")
    assert health["initialized"] is True
    assert health["sealed"] is False


def test_env_carries_the_addresses(local_env: localenv.LocalEnv) -> None:
    env = local_env.env()
    assert env["KUBECONFIG"] == str(local_env.kubeconfig)
    assert env["VAULT_ADDR"] == local_env.vault_addr
    assert env["VAULT_TOKEN"] == local_env.vault_token
    assert local_env.kubeconfig.is_file()


def test_second_up_finds_the_running_environment(local_env: localenv.LocalEnv) -> None:
    assert localenv.status(local_env.name) == local_env
    assert localenv.up(local_env.name) == local_env


def test_down_leaves_no_process_behind() -> None:
    """A second environment, with operators and the volume provisioner running, is
    stopped without a trace."""
    name = f"g8s-down-{secrets.token_hex(3)}"
    paths = localenv.Paths(name)
    try:
        env = localenv.up(name)
        localenv.start_operators(env)
        pids = [processes.read_pid(f) for f in localenv.operators_dir(paths).glob("*.pid")]
        vault_pid = processes.read_pid(paths.vault_pid)
        assert len(pids) == len(localenv.OPERATORS) + 1  # and the provisioner
        assert localenv.leftover_pids(paths), "the control plane runs from the state directory"
    finally:
        strays = localenv.down(name)
    assert strays == []
    assert localenv.leftover_pids(paths) == []
    for pid in [*pids, vault_pid]:
        assert pid is not None
        assert not processes.alive(pid), f"process {pid} survived make down"
    assert not paths.state.exists()
