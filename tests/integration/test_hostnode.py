"""The real host node of the local environment: containerd, kubelet, kube-proxy.

On this kind of machine the real node must run: these tests fail (never skip)
when the environment fell back to simulated hosts only. Covers: the node is
registered under its own identity (not the admin's), labelled and tainted so
only g8s workloads land on it; a pod from an image built here runs there and
``kubectl logs`` reaches it through the kubelet; a Service in front of it
answers from the machine through kube-proxy; and a whole second environment,
brought up and taken down, leaves the machine as it found it (mounts, links,
network namespaces, iptables chains, sysctls, cgroups, directories).
"""

from __future__ import annotations

import json
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from tests import hostnode, images, localenv


@pytest.fixture(scope="module")
def real_env(local_env: localenv.LocalEnv) -> localenv.LocalEnv:
    assert local_env.real_node, (
        f"the local environment runs without its real node: {local_env.fallback_reason}"
    )
    return local_env


def node_object(env: localenv.LocalEnv) -> dict[str, object]:
    name = hostnode.plan(env.name).node_name
    result: dict[str, object] = json.loads(env.kubectl("get", "node", name, "-o", "json").stdout)
    return result


def test_node_is_ready_labelled_and_tainted(real_env: localenv.LocalEnv) -> None:
    node = node_object(real_env)
    metadata, spec, status = node["metadata"], node["spec"], node["status"]
    assert isinstance(metadata, dict)
    assert isinstance(spec, dict)
    assert isinstance(status, dict)
    assert metadata["labels"][hostnode.HOST_LABEL] == hostnode.HOST_LABEL_VALUE
    assert {"key": hostnode.HOST_TAINT, "effect": "NoSchedule"} in spec["taints"]
    ready = {c["type"]: c["status"] for c in status["conditions"]}
    assert ready["Ready"] == "True"
    addresses = {a["type"]: a["address"] for a in status["addresses"]}
    plan = hostnode.plan(real_env.name)
    assert addresses["InternalIP"] == plan.node_ip
    # A real kubelet reports the runtime it really talks to.
    assert status["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")


def test_kubelet_uses_its_own_node_identity(real_env: localenv.LocalEnv) -> None:
    plan = hostnode.plan(real_env.name)
    paths = localenv.node_paths(localenv.Paths(real_env.name))
    config = json.loads((paths.root / "kubelet.kubeconfig").read_text())
    cert = Path(config["users"][0]["user"]["client-certificate"])
    subject = x509.load_pem_x509_certificate(cert.read_bytes()).subject.rfc4514_string()
    assert f"CN=system:node:{plan.node_name}" in subject
    assert "O=system:nodes" in subject
    assert "system:masters" not in subject


def test_simulated_hosts_do_not_carry_the_real_label(real_env: localenv.LocalEnv) -> None:
    selector = f"{hostnode.HOST_LABEL}={hostnode.HOST_LABEL_VALUE}"
    real = real_env.kubectl("get", "nodes", "-l", selector, "-o", "name").stdout.split()
    assert real == [f"node/{hostnode.plan(real_env.name).node_name}"]


@pytest.fixture
def etcd_pod(real_env: localenv.LocalEnv) -> Iterator[tuple[str, str]]:
    """A single-member etcd from the image built here, on the real node, behind a Service."""
    namespace = f"hostnode-{secrets.token_hex(3)}"
    real_env.kubectl("create", "namespace", namespace)
    labels = {"app": "probe-etcd"}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "etcd", "namespace": namespace, "labels": labels},
        "spec": {
            "nodeSelector": {hostnode.HOST_LABEL: hostnode.HOST_LABEL_VALUE},
            "tolerations": [
                {"key": hostnode.HOST_TAINT, "operator": "Exists", "effect": "NoSchedule"}
            ],
            "containers": [
                {
                    "name": "etcd",
                    "image": images.etcd_image(localenv.ETCD_VERSION),
                    "imagePullPolicy": "Never",
                    "command": ["/bin/sh", "-ec"],
                    "args": [
                        "echo probe-started; exec etcd --data-dir=/tmp/data "
                        "--listen-client-urls=http://0.0.0.0:2379 "
                        "--advertise-client-urls=http://127.0.0.1:2379"
                    ],
                    "ports": [{"containerPort": 2379}],
                    "readinessProbe": {
                        "httpGet": {"path": "/health", "port": 2379},
                        "periodSeconds": 1,
                    },
                }
            ],
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "etcd", "namespace": namespace},
        "spec": {"selector": labels, "ports": [{"port": 2379, "targetPort": 2379}]},
    }
    for manifest in (pod, service):
        real_env.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    try:
        real_env.kubectl(
            "wait",
            "--for=condition=Ready",
            "pod/etcd",
            "-n",
            namespace,
            "--timeout=120s",
            timeout=150,
        )
        yield namespace, "etcd"
    finally:
        real_env.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def http_get(host: str, port: int, path: str, timeout: float = 30) -> str:
    """One plain HTTP GET, retried until ``timeout`` (a new Service takes a moment in iptables)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=3) as sock:
                sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
                chunks = []
                while chunk := sock.recv(4096):
                    chunks.append(chunk)
                return b"".join(chunks).decode(errors="replace")
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_pod_from_a_local_image_runs_and_logs(
    real_env: localenv.LocalEnv, etcd_pod: tuple[str, str]
) -> None:
    namespace, name = etcd_pod
    pod = json.loads(real_env.kubectl("get", "pod", name, "-n", namespace, "-o", "json").stdout)
    assert pod["spec"]["nodeName"] == hostnode.plan(real_env.name).node_name
    assert pod["status"]["podIP"] in [str(ip) for ip in hostnode.plan(real_env.name).pod_cidr]
    logs = real_env.kubectl("logs", name, "-n", namespace).stdout
    assert "probe-started" in logs


def test_service_answers_from_the_machine_through_kube_proxy(
    real_env: localenv.LocalEnv, etcd_pod: tuple[str, str]
) -> None:
    namespace, name = etcd_pod
    service = json.loads(
        real_env.kubectl("get", "service", name, "-n", namespace, "-o", "json").stdout
    )
    cluster_ip = service["spec"]["clusterIP"]
    assert cluster_ip in [str(ip) for ip in hostnode.plan(real_env.name).service_cidr]
    answer = http_get(cluster_ip, 2379, "/health")
    assert '"health":"true"' in answer


def test_down_leaves_the_machine_as_it_found_it(real_env: localenv.LocalEnv) -> None:
    """A second environment with a real node, a pod on it, then down: nothing is left."""
    name = f"g8s-down-{secrets.token_hex(2)}"
    # The session's own node must be quiet, or its pods' mounts would count.
    node = hostnode.plan(real_env.name).node_name

    paths = localenv.node_paths(localenv.Paths(real_env.name))

    def quiet() -> bool:
        # A deleted pod leaves the API before the kubelet has unmounted its volumes and the
        # runtime removed its sandbox's namespace; both would count as "removed" below.
        pods = real_env.kubectl(
            "get", "pods", "-A", f"--field-selector=spec.nodeName={node}", "-o", "name"
        )
        containers = hostnode.ctr(paths, "containers", "ls", "-q", check=False, timeout=10)
        # Pod volumes only: the kubelet bind-mounts its root dir itself.
        mounts = hostnode.mounts_under([paths.kubelet_root / "pods"])
        return not pods.stdout.strip() and not containers.stdout.strip() and not mounts

    localenv.wait_for(f"no pods on {node}", quiet, timeout=120)
    before = hostnode.snapshot()
    try:
        env = localenv.up(name)
        assert env.real_node, env.fallback_reason
        env.kubectl(
            "run",
            "probe",
            "--image",
            images.PAUSE_IMAGE,
            "--image-pull-policy=Never",
            "--overrides",
            json.dumps(
                {
                    "spec": {
                        "nodeSelector": {hostnode.HOST_LABEL: hostnode.HOST_LABEL_VALUE},
                        "tolerations": [{"key": hostnode.HOST_TAINT, "operator": "Exists"}],
                    }
                }
            ),
        )
        env.kubectl("wait", "--for=condition=Ready", "pod/probe", "--timeout=120s", timeout=150)
        during = hostnode.snapshot()
        assert before.differences(during), "the second environment changed nothing on the machine"
    finally:
        localenv.down(name)
    after = hostnode.snapshot()
    assert before.differences(after) == {}
