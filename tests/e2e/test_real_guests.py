"""Real guest clusters: VMs boot the guest image under QEMU on the real node and serve Kubernetes.

The five operators run from their charts on the real node (tests/install.py's
local values: launcher pods there, software emulation, guest checks on). A
Cluster with one control plane and one worker is applied; checked here:

- the Cluster gets Ready only when the guest API answers and both guest Nodes
  are Ready; the guest's Nodes are the KVMNodes, at the addresses the KVMNodes
  report, each kubelet with its own identity; the admin kubeconfig the
  cluster operator writes works from this machine, verified against <c>-ca;
- the API server's certificate reissued reaches the running guest through the
  launcher's share: served within minutes, no VM restarted, and a client
  asking once a second all along sees no failed request;
- a Deployment in the guest runs on the worker;
- `g8s rotate encryption`: every Secret of the guest is stored under the new
  key in etcd afterwards and reads back as it was; no request of a client
  asking once a second all along failed;
- `g8s rotate sa`: a token of the old service-account key works until the
  rotation ends and is refused after it, a new token names the new key, and
  the guest's JWKS holds the new key alone;
- `g8s kubeconfig --ttl 60s` works, and is refused once it ends (its
  Certificate and Secret deleted by the certificates operator);
- a client certificate of another cluster's PKI is refused by this guest API,
  and another cluster's etcd client certificate by this guest's etcd (which
  takes this cluster's own);
- workers 1 -> 2: a new VM boots and its Node joins; 2 -> 1 with a
  PodDisruptionBudget holding a pod on the leaving node: the drain waits
  (KVMNode Drained=False, the budget named) until the budget goes, then the
  VM powers off and its Node leaves the guest;
- a worker whose QEMU is stopped (SIGSTOP) is replaced by node remediation:
  its KVMNode goes, with a Remediating Event, and a new worker joins;
- a worker whose QEMU is killed (SIGKILL) is started again by its pod from
  its own disk, and its Node is Ready again before its unhealthyTimeout: it
  is not replaced;
- the only control-plane KVMNode deleted: its replacement comes up at another
  address, and its kubelet and the worker's (not restarted) report Ready:
  the guests reach the API by its host Service, not by a VM's address;
- `g8s backup`, the Cluster deleted, the manifest `g8s restore` printed
  applied: the restored guest API server serves a ConfigMap and a Secret of
  the backup (the Secret readable: the old keys came along), its own new
  Nodes Ready, and the backup store (tests/backupstore.py) kept the backup;
- deleting the Cluster leaves no QEMU process, tap device, bridge, disk or
  guest object behind.

The figures (apply -> guest API, -> Nodes Ready; scale-up to Node Ready) are
printed; benchmarks in bench/kvm time them without a test around them.
Minutes, not seconds: every VM runs under software emulation on two cores.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.api import carotation, encryption, names, serviceaccount
from shared.api import certificates as catalogue
from tests import backupstore, hostnode, install, localenv, progress
from tests.conftest import failed
from tests.e2e import guestprobe
from tests.e2e.cluster import helpers
from tests.localenv import BIN, LocalEnv
from tests.operators import wait_for
from tests.volumes import running_provisioner, volumes_dir

CLUSTER = "g1"
BOOT_TIMEOUT = 1800.0
SCALE_TIMEOUT = 1200.0
# A pod of the guest: its controller-manager, starved of CPU under emulation,
# may lose its leader lease and restart a few times before it makes the pod.
ROLLOUT_SECONDS = 600
SPEC: dict[str, Any] = {
    "controlPlane": {"replicas": 1, "cpus": 2, "memoryMiB": 2048, "diskGiB": 10},
    "workers": {"replicas": 1, "cpus": 1, "memoryMiB": 1024, "diskGiB": 10},
    # One member: three (tests/e2e/test_real_node.py checks them on this node)
    # make every step of this module slower on two cores, and CI has its limit.
    "etcd": {"replicas": 1, "storageGiB": 1},
    "network": {"serviceCIDR": "198.18.192.0/20", "podCIDR": "198.18.128.0/18"},
}


class Guest:
    """kubectl against the guest cluster, with the admin kubeconfig `g8s kubeconfig` writes."""

    def __init__(self, env: LocalEnv, namespace: str, path: Path) -> None:
        self.env, self.namespace, self.kubeconfig = env, namespace, path
        self.refresh()

    def refresh(self) -> None:
        """Write the admin kubeconfig again (after a CA rotation: new CA, new certificate)."""
        self.env.g8s("kubeconfig", CLUSTER, "-n", self.namespace, "-o", str(self.kubeconfig))
        assert stat.S_IMODE(self.kubeconfig.stat().st_mode) == 0o600

    def run(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 120
    ) -> str:
        out = localenv.run(
            [str(BIN / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            check=False,
            timeout=timeout,
        )
        if check and out.returncode != 0:
            raise AssertionError(f"guest kubectl {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout if out.returncode == 0 else out.stderr

    def json(self, *args: str) -> dict[str, Any]:
        return dict(json.loads(self.run("get", *args, "-o", "json")))

    def ready_nodes(self) -> set[str]:
        found = set()
        for node in self.json("nodes")["items"]:
            if helpers.condition(node, "Ready").get("status") == "True":
                found.add(node["metadata"]["name"])
        return found


@pytest.fixture(scope="module")
def guest_cluster(
    local_env: LocalEnv, crds: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Guest]]:
    """The charts for a namespace of this module's own and a Ready 1 + 1 guest cluster."""
    assert local_env.real_node, f"no real node: {local_env.fallback_reason}"
    namespace = f"guests-{secrets.token_hex(3)}"
    local_env.kubectl("create", "namespace", namespace)
    tmp = tmp_path_factory.mktemp("real-guests")
    try:
        with running_provisioner(local_env, tmp):
            etcd_values = backupstore.provision(local_env, [namespace])
            install.install(local_env, namespaces=[namespace], overrides={"etcd": etcd_values})
            started = time.monotonic()
            manifest = helpers.cluster(CLUSTER, namespace)
            manifest["spec"].update(SPEC)
            helpers.apply(local_env, manifest)
            ready = progress.wait_printing(local_env, CLUSTER, namespace, BOOT_TIMEOUT)
            if not ready.ready:
                print(diagnostics(local_env, namespace, None))
            assert ready.ready, f"Cluster {CLUSTER} not Ready: {ready.name}: {ready.message}"
            print(
                f"\napply -> Cluster Ready (guest API + Nodes): {time.monotonic() - started:.0f} s"
            )
            yield namespace, Guest(local_env, namespace, tmp / "guest.kubeconfig")
            local_env.kubectl(
                "delete", "clusters.g8s.io", "--all", "-n", namespace, "--timeout=900s", timeout=960
            )
    finally:
        install.uninstall(local_env)
        backupstore.release(local_env, [namespace])
        local_env.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.fixture(autouse=True)
def diagnose(
    request: pytest.FixtureRequest, local_env: LocalEnv, guest_cluster: tuple[str, Guest]
) -> Iterator[None]:
    """After a failed test, what the guests were doing: a failure here may be minutes old."""
    yield
    if failed(request.node):
        print(diagnostics(local_env, *guest_cluster))


def diagnostics(env: LocalEnv, namespace: str, guest: Guest | None, lines: int = 25) -> str:
    """The Cluster's and KVMNodes' conditions, the namespace's last events, each VM's
    console tail (its launcher pod's log) and the guest's Nodes and pods. What says
    why comes first: CI keeps the start and the end of a long output."""
    out = ["--- diagnostics ---"]
    for kind in ("clusters.g8s.io", "kvmnodes.g8s.io"):
        for item in helpers.get(env, namespace, kind)["items"]:
            out.append(f"{item['kind']} {item['metadata']['name']}:")
            for cond in (item.get("status") or {}).get("conditions") or []:
                out.append(
                    f"  {cond.get('type')}={cond.get('status')} {cond.get('reason')}"
                    f" since {cond.get('lastTransitionTime')}: {cond.get('message', '')[:300]}"
                )
    events = env.kubectl(
        "get", "events", "-n", namespace, "--sort-by=.lastTimestamp", check=False
    ).stdout.splitlines()
    out.append("--- last events ---\n" + "\n".join(events[-25:]))
    listed = env.kubectl("get", "kvmnodes.g8s.io,pods", "-n", namespace, "-o", "wide", check=False)
    out.append(listed.stdout + listed.stderr)
    for pod in helpers.get(env, namespace, "pods", "-l", "app.kubernetes.io/managed-by=g8s-kvm")[
        "items"
    ]:
        name = pod["metadata"]["name"]
        log = env.kubectl("logs", name, "-n", namespace, f"--tail={lines}", check=False)
        out.append(f"--- console of {name} (last {lines} lines) ---\n{log.stdout}{log.stderr}")
    if guest is not None:
        ready = (
            "jsonpath={range .items[*]}{.metadata.name} "
            '{.status.conditions[?(@.type=="Ready")].status} '
            '{.status.conditions[?(@.type=="Ready")].message}{"\\n"}{end}'
        )
        out.append("--- guest Nodes (Ready) and pods ---")
        try:
            out.append(guest.run("get", "nodes", "-o", ready, check=False, timeout=60))
            out.append(guest.run("get", "pods", "-A", "-o", "wide", check=False, timeout=60))
        except subprocess.TimeoutExpired:
            out.append("(the guest API did not answer within 60 s)")
    return "\n".join(out)


def kvmnodes(env: LocalEnv, namespace: str) -> list[dict[str, Any]]:
    listed = helpers.get(env, namespace, "kvmnodes.g8s.io", "-l", f"g8s.io/cluster={CLUSTER}")
    return list(listed["items"])


def test_guest_nodes_are_the_kvm_nodes_and_ready(
    local_env: LocalEnv, guest_cluster: tuple[str, Guest]
) -> None:
    namespace, guest = guest_cluster
    nodes = {n["metadata"]["name"]: n for n in kvmnodes(local_env, namespace)}
    guest_nodes = {n["metadata"]["name"]: n for n in guest.json("nodes")["items"]}
    assert set(guest_nodes) == set(nodes)
    assert guest.ready_nodes() == set(nodes)
    for name, node in guest_nodes.items():
        addresses = {a["type"]: a["address"] for a in node["status"]["addresses"]}
        assert addresses["InternalIP"] == nodes[name]["status"]["ipAddress"]
        ready = helpers.condition(nodes[name], "NodeReady")
        assert (ready["status"], ready["reason"]) == ("True", "GuestNodeReady"), ready
    # The admin kubeconfig verifies the API server against the cluster's CA.
    ca = base64.b64decode(
        helpers.get(local_env, namespace, "secret", f"{CLUSTER}-ca")["data"]["ca.crt"]
    )
    config = json.loads(guest.kubeconfig.read_text())
    assert base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]) == ca
    assert "insecure-skip-tls-verify" not in config["clusters"][0]["cluster"]
    assert guest.run("get", "--raw", "/readyz").strip() == "ok"


def launcher_pods(env: LocalEnv, namespace: str) -> dict[str, tuple[str, int]]:
    """Each VM's launcher pod: name -> (uid, restarts): a VM restart changes one of them."""
    found = helpers.get(env, namespace, "pods", "-l", "app.kubernetes.io/managed-by=g8s-kvm")
    return {
        p["metadata"]["name"]: (
            p["metadata"]["uid"],
            sum(c.get("restartCount", 0) for c in p["status"].get("containerStatuses", [])),
        )
        for p in found["items"]
        if not p["metadata"].get("deletionTimestamp")
    }


def test_a_renewed_certificate_reaches_the_running_guest(
    local_env: LocalEnv, guest_cluster: tuple[str, Guest]
) -> None:
    """The API server's certificate reissued (its Secret deleted): the running guest serves
    the new one through the launcher's share, with no VM restart and no failed request."""
    namespace, guest = guest_cluster
    pods = launcher_pods(local_env, namespace)
    (controlplane,) = [
        n["metadata"]["name"]
        for n in kvmnodes(local_env, namespace)
        if n["spec"]["role"] == "controlplane"
    ]
    ignition_secret = names.ignition_secret(controlplane)
    config_hash = helpers.get(local_env, namespace, "secret", ignition_secret)["metadata"][
        "annotations"
    ]["g8s.io/ignition-sha256"]
    with guestprobe.Prober(guest.kubeconfig) as prober:
        wait_for(prober.tally.last_serial, timeout=120, what="a first answer")
        old = prober.tally.last_serial()
        started = time.monotonic()
        local_env.kubectl(
            "delete", "secret", catalogue.secret_name(CLUSTER, catalogue.API), "-n", namespace
        )
        wait_for(
            lambda: prober.tally.last_serial() not in (None, old),
            timeout=900,
            what="the guest API server serving its new certificate",
            interval=5.0,
        )
        taken_up = time.monotonic() - started
        time.sleep(30)  # and keeps serving it
    tally = prober.tally
    print(
        f"\nAPI server certificate renewed -> served by the running guest after {taken_up:.0f} s;"
        f" continuous client: {tally.ok} requests answered, {len(tally.failures)} failed"
    )
    assert tally.failures == [], tally.failures
    # Once switched, never back to the old certificate.
    switched = next(i for i, (_, serial) in enumerate(tally.serials) if serial != old)
    assert old not in [serial for _, serial in tally.serials[switched:]]
    assert launcher_pods(local_env, namespace) == pods
    renewed = helpers.get(local_env, namespace, "secret", ignition_secret)["metadata"]
    assert renewed["annotations"]["g8s.io/ignition-sha256"] == config_hash


def pause_deployment(name: str, replicas: int, **pod_spec: Any) -> dict[str, Any]:
    """A Deployment of the pause image the guest image preloads (nothing is pulled)."""
    container = {"name": "pause", "image": "g8s.local/pause:3.10", "imagePullPolicy": "Never"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [container], **pod_spec},
            },
        },
    }


def apply_in_guest(guest: Guest, *objects: dict[str, Any]) -> None:
    # No client-side validation: the emulated API server can take longer than
    # kubectl's 32 s to render its OpenAPI document.
    items = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
    guest.run("apply", "--validate=false", "-f", "-", input=json.dumps(items))


def test_a_deployment_runs_on_the_worker(guest_cluster: tuple[str, Guest]) -> None:
    _, guest = guest_cluster
    apply_in_guest(guest, pause_deployment("hello", 1))
    guest.run(
        "rollout",
        "status",
        "deployment/hello",
        f"--timeout={ROLLOUT_SECONDS}s",
        timeout=ROLLOUT_SECONDS + 30,
    )
    pods = [
        p
        for p in guest.json("pods", "-l", "app=hello")["items"]
        if not p["metadata"].get("deletionTimestamp")
    ]
    assert len(pods) == 1
    assert f"{CLUSTER}-w-" in pods[0]["spec"]["nodeName"]
    assert pods[0]["status"]["phase"] == "Running"


def test_a_short_lived_kubeconfig_works_until_its_end(
    local_env: LocalEnv, guest_cluster: tuple[str, Guest], tmp_path: Path
) -> None:
    """`g8s kubeconfig --ttl 60s`: the guest takes it, then refuses it once it ends;
    its Certificate and Secret are gone, the long-lived admin kubeconfig still works."""
    namespace, guest = guest_cluster
    path = tmp_path / "short.kubeconfig"
    made = local_env.g8s(
        "kubeconfig", CLUSTER, "-n", namespace, "--ttl", "60s", "-o", str(path), timeout=180
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    (name,) = [
        line.split()[3].split("/")[1] for line in made.stderr.splitlines() if "asked for" in line
    ]

    def nodes_with(kubeconfig: Path) -> subprocess.CompletedProcess[str]:
        return localenv.run(
            [str(BIN / "kubectl"), "--kubeconfig", str(kubeconfig), "get", "nodes", "-o", "name"],
            check=False,
            timeout=120,
        )

    def answer(refused: bool) -> subprocess.CompletedProcess[str] | None:
        out = nodes_with(path)
        if refused:
            return out if out.returncode != 0 and "Unauthorized" in out.stderr else None
        return out if out.returncode == 0 else None

    answered = wait_for(
        lambda: answer(refused=False),
        timeout=120,
        what="the guest API answering the short-lived kubeconfig",
        interval=3.0,
    )
    assert f"node/{CLUSTER}-cp-" in answered.stdout
    wait_for(
        lambda: helpers.find(local_env, namespace, "certificate.g8s.io", name) is None,
        timeout=240,
        what=f"Certificate {name} deleted at its end",
        interval=3.0,
    )
    assert helpers.find(local_env, namespace, "secret", name) is None
    refused = wait_for(
        lambda: answer(refused=True),
        timeout=120,
        what="the guest API refusing the ended certificate",
        interval=3.0,
    )
    assert refused.returncode != 0
    assert guest.ready_nodes(), "the long-lived admin kubeconfig still works"


OTHER = "other"


def secret(env: LocalEnv, namespace: str, name: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        out = env.kubectl("get", "secret", name, "-n", namespace, "-o", "json", check=False)
        return json.loads(out.stdout) if out.returncode == 0 else None

    return dict(wait_for(found, timeout=120, what=f"Secret {name}"))


def issued(env: LocalEnv, namespace: str, component: str) -> dict[str, Any]:
    """The TLS Secret of a Certificate of another cluster (its own Vault mount and CA)."""
    name = catalogue.secret_name(OTHER, component)
    helpers.apply(
        env,
        {
            "apiVersion": "g8s.io/v1alpha1",
            "kind": "Certificate",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"cluster": OTHER, "component": component},
        },
    )
    return secret(env, namespace, name)


def test_another_clusters_certificate_is_refused(
    local_env: LocalEnv, guest_cluster: tuple[str, Guest], tmp_path: Path
) -> None:
    namespace, guest = guest_cluster
    # An admin certificate from another cluster's PKI (its own Vault mount and CA).
    admin = issued(local_env, namespace, catalogue.ADMIN)
    config = json.loads(guest.kubeconfig.read_text())
    user = config["users"][0]["user"]
    user["client-certificate-data"] = admin["data"]["tls.crt"]
    user["client-key-data"] = admin["data"]["tls.key"]
    foreign = tmp_path / "foreign.kubeconfig"
    foreign.write_text(json.dumps(config))
    foreign.chmod(0o600)
    out = subprocess.run(
        [str(BIN / "kubectl"), "--kubeconfig", str(foreign), "get", "nodes"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode != 0
    assert "Unauthorized" in out.stderr or "unauthorized" in out.stderr.lower(), out.stderr
    local_env.kubectl(
        "delete", "certificate.g8s.io", "other-admin", "-n", namespace, "--timeout=120s"
    )


def etcd_endpoint(env: LocalEnv, namespace: str) -> str:
    """The guest etcd's client Service, reached from this machine through kube-proxy."""
    service = helpers.get(env, namespace, "service", names.etcd_client_service(CLUSTER))
    return f"https://{service['spec']['clusterIP']}:2379"


def etcdctl(
    endpoint: str, client: dict[str, Any], where: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """etcdctl with the client certificate of TLS Secret ``client``."""
    files = {}
    for key in ("tls.crt", "tls.key"):
        files[key] = where / f"{client['metadata']['name']}-{key}"
        files[key].write_bytes(base64.b64decode(client["data"][key]))
        files[key].chmod(0o600)
    return subprocess.run(
        [
            str(BIN / "etcdctl"),
            f"--endpoints={endpoint}",
            # The server's certificate names the Service, not the address
            # used here; what is tested is the server's check of the client.
            "--insecure-skip-tls-verify",
            f"--cert={files['tls.crt']}",
            f"--key={files['tls.key']}",
            "--dial-timeout=10s",
            "--command-timeout=20s",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_another_clusters_etcd_client_certificate_is_refused_by_etcd(
    local_env: LocalEnv, guest_cluster: tuple[str, Guest], tmp_path: Path
) -> None:
    namespace, _ = guest_cluster
    own = secret(local_env, namespace, catalogue.secret_name(CLUSTER, catalogue.ETCD_CLIENT))
    foreign = issued(local_env, namespace, catalogue.ETCD_CLIENT)
    endpoint = etcd_endpoint(local_env, namespace)
    query = ("get", "/registry/namespaces/default", "--keys-only")

    # This cluster's own client certificate reads the guest's data: the
    # refusal below is the certificate's, not an unreachable etcd.
    allowed = etcdctl(endpoint, own, tmp_path, *query)
    assert allowed.returncode == 0, allowed.stderr
    assert "/registry/namespaces/default" in allowed.stdout
    refused = etcdctl(endpoint, foreign, tmp_path, *query)
    assert refused.returncode != 0, refused.stdout
    assert "/registry" not in refused.stdout
    print(f"\nguest etcd refused the other cluster's client certificate: {refused.stderr.strip()}")
    local_env.kubectl(
        "delete",
        "certificate.g8s.io",
        catalogue.secret_name(OTHER, catalogue.ETCD_CLIENT),
        "-n",
        namespace,
        "--timeout=120s",
    )


ROTATION_SECONDS = 1800


def stored_secrets(endpoint: str, client: dict[str, Any], where: Path) -> dict[str, bytes]:
    """Every Secret of the guest as etcd stores it: key -> the first bytes of its value."""
    out = etcdctl(endpoint, client, where, "get", "--prefix", "/registry/secrets/", "-w", "json")
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout).get("kvs") or []
    return {
        base64.b64decode(kv["key"]).decode(): base64.b64decode(kv["value"])[:40] for kv in found
    }


def rotated(
    env: LocalEnv, guest: Guest, namespace: str, what: str, *flags: str, follow: bool = False
) -> tuple[subprocess.CompletedProcess[str], guestprobe.Tally, float]:
    """`g8s rotate <what>` of the guest while a client asks it once a second: what the
    command printed (shown, with the client's outages beside its progress), the client's
    tally, and the seconds it took. ``follow``: the client takes up the kubeconfig as the
    rotation rewrites it, as a user's tooling re-reading the kubeconfig Secret does."""
    answer: dict[str, Any] = {}

    def rotate() -> None:
        try:
            answer["out"] = env.g8s(
                "rotate", what, CLUSTER, "-n", namespace, *flags,
                f"--timeout={ROTATION_SECONDS}", timeout=ROTATION_SECONDS + 60,
            )  # fmt: skip
        except Exception as exc:  # raised again below, in the test's thread
            answer["error"] = exc

    started = time.monotonic()
    with guestprobe.Prober(guest.kubeconfig, follow=follow) as prober:
        worker = threading.Thread(target=rotate, daemon=True)
        worker.start()
        while worker.is_alive():
            # Soon after a rewrite: the old client certificate is refused once
            # the next phase drops its CA.
            worker.join(timeout=5)
            if follow:
                guest.refresh()
    took = time.monotonic() - started
    if "error" in answer:
        raise answer["error"]
    out: subprocess.CompletedProcess[str] = answer["out"]
    print(f"\n{out.stderr.strip()}\n{out.stdout.strip()}")
    for first, last, count in prober.tally.outages():
        print(f"  client failed {count} times from {first:.0f} s to {last:.0f} s")
    return out, prober.tally, took


def test_the_encryption_key_is_rotated_and_every_secret_is_stored_under_it(
    local_env: LocalEnv, guest_cluster: tuple[str, Guest], tmp_path: Path
) -> None:
    """`g8s rotate encryption`: a new key added, made the write key, every Secret written
    again, the old key removed; etcd holds every Secret under the new key, each reads back
    as it was, and a client asking once a second all along sees no failed request."""
    namespace, guest = guest_cluster
    mine: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"rotation-{i}", "namespace": "default"},
            "stringData": {"value": f"kept across the rotation {i}"},
        }
        for i in range(3)
    ]
    apply_in_guest(guest, *mine)
    client = secret(local_env, namespace, catalogue.secret_name(CLUSTER, catalogue.ETCD_CLIENT))
    endpoint = etcd_endpoint(local_env, namespace)
    before = stored_secrets(endpoint, client, tmp_path)
    assert before
    assert all(v.startswith(b"k8s:enc:secretbox:v1:key1:") for v in before.values()), before
    out, tally, took = rotated(local_env, guest, namespace, "encryption")
    keys = encryption.keys_of(
        helpers.get(local_env, namespace, "secret", names.encryption_secret(CLUSTER))["data"]
    )
    print(
        f"encryption key rotated to {keys[0].name} in {took:.0f} s; continuous client:"
        f" {tally.ok} requests answered, {len(tally.failures)} failed"
    )
    assert "Rotated" in out.stdout
    assert [k.name for k in keys] == ["key2"]
    after = stored_secrets(endpoint, client, tmp_path)
    prefix = encryption.storage_prefix(keys[0])
    assert set(before) <= set(after)
    assert all(v.startswith(prefix) for v in after.values()), after
    for expected in mine:
        name = expected["metadata"]["name"]
        value = guest.json("secret", name, "-n", "default")["data"]["value"]
        assert base64.b64decode(value).decode() == expected["stringData"]["value"]
    assert tally.failures == [], tally.failures


def with_token(guest: Guest, token: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``GET /api`` of the guest as the bearer of ``token`` alone (no client certificate)."""
    config = yaml.safe_load(guest.kubeconfig.read_text())
    cluster = config["clusters"][0]["cluster"]
    ca = tmp_path / "guest-ca.crt"
    ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    return localenv.run(
        [
            str(BIN / "kubectl"),
            "--kubeconfig=/dev/null",
            f"--server={cluster['server']}",
            f"--certificate-authority={ca}",
            f"--token={token}",
            "get",
            "--raw",
            "/api",
        ],
        check=False,
        timeout=60,
    )


def test_the_service_account_key_is_rotated_and_the_old_key_refused(
    local_env: LocalEnv, guest_cluster: tuple[str, Guest], tmp_path: Path
) -> None:
    """`g8s rotate sa --grace 0`: a new signing key trusted, then signing, then the old one
    dropped, the guest's API server restarted at each step. A token of the old key works
    until the end and is refused after it; a token made after works; the guest's JWKS
    holds the new key alone."""
    namespace, guest = guest_cluster
    old = guest.run("create", "token", "default", "-n", "default", "--duration=1h").strip()
    assert with_token(guest, old, tmp_path).returncode == 0
    out, tally, took = rotated(local_env, guest, namespace, "sa", "--grace=0")
    print(
        f"service-account key rotated in {took:.0f} s; continuous client:"
        f" {tally.ok} requests answered, {len(tally.failures)} failed"
        " (the guest's one API server restarts at each of three steps)"
    )
    assert "Rotated" in out.stdout
    pair = secret(local_env, namespace, catalogue.secret_name(CLUSTER, catalogue.SERVICE_ACCOUNT))
    signing = serviceaccount.key_id(
        serviceaccount.public_of(base64.b64decode(pair["data"][serviceaccount.SIGNING_KEY]))
    )
    jwks = serviceaccount.jwks_ids(guest.run("get", "--raw", "/openid/v1/jwks"))
    assert jwks == {signing}

    def old_refused() -> subprocess.CompletedProcess[str] | None:
        answer = with_token(guest, old, tmp_path)
        return answer if answer.returncode != 0 else None

    refused = wait_for(old_refused, timeout=120, what="the old key's token refused")
    assert "Unauthorized" in refused.stderr or "401" in refused.stderr, refused.stderr
    new = guest.run("create", "token", "default", "-n", "default", "--duration=1h").strip()
    assert serviceaccount.token_key_id(new) == signing
    assert with_token(guest, new, tmp_path).returncode == 0


def with_client_certificate(guest: Guest, config: dict[str, Any], tmp_path: Path) -> str:
    """``GET /api`` of the guest with the client certificate of kubeconfig ``config``,
    trusting any server certificate; "" when answered, else what kubectl said."""
    user = config["users"][0]["user"]
    cert, key = tmp_path / "client.crt", tmp_path / "client.key"
    cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
    key.touch(mode=0o600)
    key.write_bytes(base64.b64decode(user["client-key-data"]))
    out = localenv.run(
        [
            str(BIN / "kubectl"),
            "--kubeconfig=/dev/null",
            f"--server={config['clusters'][0]['cluster']['server']}",
            "--insecure-skip-tls-verify",
            f"--client-certificate={cert}",
            f"--client-key={key}",
            "get",
            "--raw",
            "/api",
        ],
        check=False,
        timeout=60,
    )
    return "" if out.returncode == 0 else out.stderr


def test_the_ca_is_rotated_and_a_certificate_of_the_old_ca_refused(
    local_env: LocalEnv, guest_cluster: tuple[str, Guest], tmp_path: Path
) -> None:
    """`g8s rotate ca`: a new CA trusted beside the old one, every certificate issued
    again by it, then the old CA dropped. A client that takes up the kubeconfig as it is
    rewritten asks the guest once a second throughout; its failures are printed per
    phase. The old CA's admin certificate is refused at the end, the new kubeconfig
    works, and every CA bundle holds the new CA alone."""
    namespace, guest = guest_cluster
    before = json.loads(guest.kubeconfig.read_text())
    assert with_client_certificate(guest, before, tmp_path) == ""  # the check can pass
    old_ca = secret(local_env, namespace, names.ca_secret(CLUSTER))["data"]["ca.crt"]
    out, tally, took = rotated(local_env, guest, namespace, "ca", follow=True)
    print(
        f"CA rotated in {took:.0f} s; continuous client: {tally.ok} requests answered,"
        f" {len(tally.failures)} failed"
    )
    asked = guestprobe.phases_asked(out.stderr, carotation.PHASES)
    phases = guestprobe.failures_by_phase(tally.failed_at, asked)
    for phase, moment, count in phases:
        print(f"  phase {phase} asked at {moment:.0f} s: {count} failed")
    for failure in tally.failures[:20]:
        print(f"  {failure}")
    assert "Rotated" in out.stdout
    assert carotation.REISSUED in asked, out.stderr
    # No request fails once the bundle phase is over. The bundle phase (Trusted)
    # restarts the guest's one API server: its etcd client reads its CA file only
    # at start. Reissued and Done restart nothing a request goes through. Dropped
    # is not asserted: etcd reads its trusted CAs only at start too, so its
    # members roll when the bundle shrinks, and this guest's one member is away
    # while it does. With three members, rolled one at a time, a run saw none
    # fail after Trusted (docs/operations.md).
    failed_after_bundle = {
        phase: count
        for phase, _, count in phases
        if phase in (carotation.REISSUED, carotation.DONE)
    }
    assert set(failed_after_bundle.values()) <= {0}, (failed_after_bundle, tally.failures)
    guest.refresh()
    bundle = base64.b64decode(
        secret(local_env, namespace, names.ca_secret(CLUSTER))["data"]["ca.crt"]
    )
    (only,) = carotation.certificates_of(bundle)
    assert only not in carotation.certificates_of(base64.b64decode(old_ca))
    assert guest.json("namespace", "default")["metadata"]["name"] == "default"
    for certificate in helpers.get(local_env, namespace, "certificates.g8s.io")["items"]:
        assert certificate["status"]["caRotation"].startswith("Done/"), certificate["metadata"]

    def old_refused() -> str | None:
        said = with_client_certificate(guest, before, tmp_path)
        return said or None

    refused = wait_for(old_refused, timeout=120, what="the old CA's admin certificate refused")
    assert "Unauthorized" in refused or "401" in refused, refused


def test_scaling_workers_boots_a_node_and_drains_one_honouring_a_budget(
    local_env: LocalEnv, guest_cluster: tuple[str, Guest]
) -> None:
    namespace, guest = guest_cluster
    started = time.monotonic()
    helpers.patch(local_env, namespace, CLUSTER, {"spec": {"workers": {"replicas": 2}}})
    wait_for(
        lambda: len([n for n in guest.ready_nodes() if f"{CLUSTER}-w-" in n]) == 2,
        timeout=SCALE_TIMEOUT,
        what="a second guest worker Ready",
        interval=5.0,
    )
    print(f"\nworkers 1 -> 2: new guest Node Ready after {time.monotonic() - started:.0f} s")
    workers = sorted(
        (n for n in kvmnodes(local_env, namespace) if n["spec"]["role"] == "worker"),
        key=lambda n: n["spec"]["index"],
    )
    leaving = workers[-1]["metadata"]["name"]

    # One pod per worker, and a budget that lets none of them go.
    anti_affinity = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "topologyKey": "kubernetes.io/hostname",
                    "labelSelector": {"matchLabels": {"app": "spread"}},
                }
            ]
        }
    }
    spread = pause_deployment("spread", 2, affinity=anti_affinity)
    budget = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "spread", "namespace": "default"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "spread"}}},
    }
    apply_in_guest(guest, spread, budget)
    guest.run(
        "rollout",
        "status",
        "deployment/spread",
        f"--timeout={ROLLOUT_SECONDS}s",
        timeout=ROLLOUT_SECONDS + 30,
    )

    helpers.patch(local_env, namespace, CLUSTER, {"spec": {"workers": {"replicas": 1}}})

    def held() -> dict[str, Any] | None:
        node = helpers.get(local_env, namespace, "kvmnode.g8s.io", leaving)
        drained = helpers.condition(node, "Drained")
        return (
            drained
            if drained.get("reason") == "Draining" and "Budget" in drained.get("message", "")
            else None
        )

    drained = wait_for(held, timeout=300, what=f"{leaving} held by the budget", interval=2.0)
    assert drained["status"] == "False"
    assert leaving in {n["metadata"]["name"] for n in guest.json("nodes")["items"]}

    guest.run("delete", "pdb", "spread")
    wait_for(
        lambda: leaving not in {n["metadata"]["name"] for n in kvmnodes(local_env, namespace)},
        timeout=600,
        what=f"KVMNode {leaving} gone",
        interval=2.0,
    )
    wait_for(
        lambda: leaving not in {n["metadata"]["name"] for n in guest.json("nodes")["items"]},
        timeout=120,
        what=f"guest Node {leaving} gone",
    )
    wait_for(
        lambda: not qemu_processes(f"guest={leaving}"),
        timeout=300,
        what=f"the VM of {leaving} powered off",
    )


def test_a_wedged_worker_is_replaced(local_env: LocalEnv, guest_cluster: tuple[str, Guest]) -> None:
    """SIGSTOP on a worker's QEMU: its guest Node goes NotReady, the cluster operator
    replaces its KVMNode after unhealthyTimeout, and a new worker joins the guest."""
    namespace, guest = guest_cluster
    # The shortest the API allows: the Node is Unknown after the guest's node
    # monitor grace period (50 s) and the KVMNode not Ready at the kvm
    # operator's next guest check; remediation waits this long after that.
    remediation = {"unhealthyTimeout": "30s", "maxUnhealthy": "1"}
    helpers.patch(local_env, namespace, CLUSTER, {"spec": {"remediation": remediation}})
    (wedged,) = [
        n["metadata"]["name"]
        for n in kvmnodes(local_env, namespace)
        if n["spec"]["role"] == "worker" and not n["metadata"].get("deletionTimestamp")
    ]
    (line,) = qemu_processes(f"guest={wedged}")
    pid = int(line.split()[0])
    started = time.monotonic()
    os.kill(pid, signal.SIGSTOP)
    moments: dict[str, float] = {}

    def since(what: str) -> bool:
        moments.setdefault(what, time.monotonic() - started)
        return True

    try:
        wait_for(
            lambda: (
                helpers.condition(
                    helpers.get(local_env, namespace, "cluster.g8s.io", CLUSTER), "NodesHealthy"
                ).get("reason")
                == "Remediating"
                or wedged not in {n["metadata"]["name"] for n in kvmnodes(local_env, namespace)}
                or None
            ),
            timeout=600,
            what=f"remediation of {wedged}",
            interval=2.0,
        )
        since("remediation begun")
        events = helpers.events(local_env, namespace, CLUSTER, reason="Remediating")
        assert any(wedged in e for e in events), events

        def replacement_ready() -> bool:
            try:
                ready = guest.ready_nodes()
            except (AssertionError, subprocess.TimeoutExpired):
                return False  # the guest API is slow under emulation: ask again
            others = [n for n in ready if f"{CLUSTER}-w-" in n and n != wedged]
            return bool(others) and since("replacement Node Ready")

        wait_for(replacement_ready, timeout=SCALE_TIMEOUT, what="a new worker Ready", interval=5.0)
        wait_for(
            lambda: (
                wedged not in {n["metadata"]["name"] for n in kvmnodes(local_env, namespace)}
                and since("old KVMNode gone")
            ),
            timeout=600,
            what=f"KVMNode {wedged} gone",
            interval=2.0,
        )
    finally:
        if qemu_processes(f"guest={wedged}"):
            os.kill(pid, signal.SIGCONT)
    figures = ", ".join(f"{what} after {seconds:.0f} s" for what, seconds in moments.items())
    print(f"\nwedged worker {wedged} (SIGSTOP, unhealthyTimeout 30s): {figures}")
    wait_for(
        lambda: not qemu_processes(f"guest={wedged}"),
        timeout=300,
        what=f"the VM of {wedged} gone",
    )


def test_a_killed_worker_vm_comes_back_without_a_replacement(
    local_env: LocalEnv, guest_cluster: tuple[str, Guest]
) -> None:
    """SIGKILL on a worker's QEMU: its pod starts the VM again from its disk and the
    same guest Node is Ready again well within unhealthyTimeout, so remediation
    replaces nothing (a node back before its timeout is left alone)."""
    namespace, guest = guest_cluster
    remediation = {"unhealthyTimeout": "5m", "maxUnhealthy": "1"}
    helpers.patch(local_env, namespace, CLUSTER, {"spec": {"remediation": remediation}})
    before = {n["metadata"]["name"] for n in kvmnodes(local_env, namespace)}
    (worker,) = [
        n["metadata"]["name"]
        for n in kvmnodes(local_env, namespace)
        if n["spec"]["role"] == "worker" and not n["metadata"].get("deletionTimestamp")
    ]
    boot = guest.json("node", worker)["status"]["nodeInfo"]["bootID"]
    (line,) = qemu_processes(f"guest={worker}")
    started = time.monotonic()
    os.kill(int(line.split()[0]), signal.SIGKILL)

    def ready_again() -> bool:
        try:
            node = guest.json("node", worker)
        except (AssertionError, subprocess.TimeoutExpired):
            return False  # the guest API is slow under emulation: ask again
        # A new boot ID with Ready: the VM booted again and its kubelet reported.
        # Ready's transition time is no sign: a VM back within the node monitor's
        # grace period is never marked NotReady at all.
        rebooted = node["status"]["nodeInfo"]["bootID"] != boot
        return rebooted and helpers.condition(node, "Ready").get("status") == "True"

    wait_for(ready_again, timeout=SCALE_TIMEOUT, what=f"Node {worker} Ready again", interval=5.0)
    took = time.monotonic() - started
    print(
        f"\nkilled worker VM {worker} (SIGKILL on QEMU): its Node Ready again after {took:.0f} s,"
    )
    print("  restarted by its pod from its own disk; not replaced (unhealthyTimeout 5m)")
    assert {n["metadata"]["name"] for n in kvmnodes(local_env, namespace)} == before
    events = helpers.events(local_env, namespace, CLUSTER, reason="Remediating")
    assert not any(worker in e for e in events), events


def test_the_control_plane_vm_replaced_keeps_every_node_reaching_the_api(
    local_env: LocalEnv, guest_cluster: tuple[str, Guest]
) -> None:
    """The only control-plane KVMNode deleted: the cluster operator makes one at the
    next index, at another address. The guests reach the API by its host Service
    (kube-proxy takes it to the control-plane VMs there are now), so the new control
    plane's kubelet and the worker's, which did not restart, report Ready to it."""
    namespace, guest = guest_cluster
    (old,) = [n for n in kvmnodes(local_env, namespace) if n["spec"]["role"] == "controlplane"]
    old_name, old_address = old["metadata"]["name"], old["status"]["ipAddress"]
    workers = {
        n["metadata"]["name"]
        for n in kvmnodes(local_env, namespace)
        if n["spec"]["role"] == "worker"
    }
    started = time.monotonic()
    local_env.kubectl("delete", "kvmnode.g8s.io", old_name, "-n", namespace, "--wait=false")

    def new_control_plane() -> dict[str, Any] | None:
        found = [
            n
            for n in kvmnodes(local_env, namespace)
            if n["spec"]["role"] == "controlplane" and n["metadata"]["name"] != old_name
        ]
        return found[0] if found and (found[0].get("status") or {}).get("ipAddress") else None

    new = wait_for(new_control_plane, timeout=300, what="a new control-plane KVMNode", interval=2.0)
    new_name = new["metadata"]["name"]
    assert new["status"]["ipAddress"] != old_address, (old_address, new["status"])

    def all_ready() -> bool:
        try:
            return guest.ready_nodes() >= {new_name, *workers}
        except (AssertionError, subprocess.TimeoutExpired):
            return False  # the new API server is still starting

    wait_for(all_ready, timeout=SCALE_TIMEOUT, what="the new control plane and the workers Ready")
    print(
        f"\ncontrol plane {old_name} ({old_address}) replaced by {new_name}"
        f" ({new['status']['ipAddress']}): every node Ready after"
        f" {time.monotonic() - started:.0f} s"
    )
    wait_for(
        lambda: old_name not in {n["metadata"]["name"] for n in kvmnodes(local_env, namespace)},
        timeout=600,
        what=f"KVMNode {old_name} gone",
        interval=2.0,
    )


def qemu_processes(marker: str) -> list[str]:
    out = subprocess.run(
        ["pgrep", "-af", "qemu-system"], capture_output=True, text=True, check=False
    )
    return [line for line in out.stdout.splitlines() if marker in line]


def node_links(env: LocalEnv) -> set[str]:
    netns = hostnode.plan(env.name).netns
    out = subprocess.run(
        ["ip", "-n", netns, "-o", "link", "show"], capture_output=True, text=True, check=True
    )
    return {line.split(":")[1].strip().split("@")[0] for line in out.stdout.splitlines()}


def test_a_cluster_restored_from_a_backup_serves_its_objects(
    local_env: LocalEnv, guest_cluster: tuple[str, Guest], tmp_path: Path
) -> None:
    """`g8s backup`, the Cluster deleted, `g8s restore`'s manifest applied: the new guest
    API server serves the ConfigMap and the Secret (stored encrypted) of the backup."""
    namespace, guest = guest_cluster
    marker = secrets.token_hex(8)
    kept: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": kind,
            "metadata": {"name": "kept-by-the-backup", "namespace": "default"},
            field: {"marker": marker},
        }
        for kind, field in (("ConfigMap", "data"), ("Secret", "stringData"))
    ]
    apply_in_guest(guest, *kept)
    started = time.monotonic()
    backup = local_env.g8s("backup", CLUSTER, "-n", namespace, timeout=360)
    print(f"\n{backup.stdout.strip()} ({time.monotonic() - started:.0f} s)")
    restore = local_env.g8s("restore", CLUSTER, "-n", namespace)
    manifest = yaml.safe_load(restore.stdout)
    assert manifest["spec"]["workers"]["replicas"] == SPEC["workers"]["replicas"]
    # The data comes back through the control plane: restored without workers,
    # the cluster boots one VM, not two on two cores. The backup's worker Node
    # stays in the guest without a kubelet, as after any restore into fewer nodes.
    manifest["spec"]["workers"]["replicas"] = 0
    location = manifest["spec"]["etcd"]["restoreFrom"]["location"]
    old_nodes = {n["metadata"]["name"] for n in kvmnodes(local_env, namespace)}

    helpers.delete_and_wait(local_env, namespace, CLUSTER, timeout=900)
    # Backups, and the copy of the keys g8s restore made, outlive the cluster.
    assert (backupstore.store_dir(local_env) / location).is_file()
    keys = helpers.get(local_env, namespace, "secret", f"{CLUSTER}-restore-keys")
    assert "ownerReferences" not in keys["metadata"]

    started = time.monotonic()
    helpers.apply(local_env, manifest)
    ready = progress.wait_printing(local_env, CLUSTER, namespace, BOOT_TIMEOUT)
    assert ready.ready, f"restored Cluster {CLUSTER} not Ready: {ready.name}: {ready.message}"
    print(f"apply of the restored Cluster -> Ready: {time.monotonic() - started:.0f} s")
    restored = Guest(local_env, namespace, tmp_path / "restored.kubeconfig")
    config = restored.json("configmap", "kept-by-the-backup", "-n", "default")
    assert config["data"] == {"marker": marker}
    stored = restored.json("secret", "kept-by-the-backup", "-n", "default")
    assert base64.b64decode(stored["data"]["marker"]).decode() == marker
    # The old VMs' Node objects came with the backup. A KVMNode of the same name
    # (a node's name comes from its cluster, role and index, unless it replaced
    # another) has its new kubelet take the Node over: every KVMNode's Node is
    # Ready and reports the new VM's address, whatever Ready the backup held.
    nodes = {n["metadata"]["name"]: n for n in kvmnodes(local_env, namespace)}
    print(f"old nodes {sorted(old_nodes)}, restored cluster's {sorted(nodes)}")
    assert set(nodes) <= restored.ready_nodes()
    for name, node in nodes.items():
        reported = restored.json("node", name)["status"]["addresses"]
        addresses = {a["type"]: a["address"] for a in reported}
        assert addresses["InternalIP"] == node["status"]["ipAddress"], (name, addresses)
    # The new cluster took the copy of the keys over: it goes with it.
    keys = helpers.get(local_env, namespace, "secret", f"{CLUSTER}-restore-keys")
    assert keys["metadata"]["ownerReferences"][0]["name"] == CLUSTER


def test_deleting_the_cluster_leaves_nothing(
    local_env: LocalEnv, guest_cluster: tuple[str, Guest]
) -> None:
    namespace, _ = guest_cluster
    network = helpers.get(local_env, namespace, "clusternetwork.g8s.io", CLUSTER)
    bridge = network["status"]["bridge"]
    claims = [f"{n['metadata']['name']}-disk" for n in kvmnodes(local_env, namespace)]
    assert qemu_processes(f"guest={CLUSTER}-")
    assert bridge in node_links(local_env)

    helpers.delete_and_wait(local_env, namespace, CLUSTER, timeout=900)

    # Deleted means gone: the moment the Cluster has gone, its VMs, claims and
    # volumes have too (the finalizers wait for them; nothing is left to the
    # garbage collector).
    assert not qemu_processes(f"guest={CLUSTER}-")
    claims_left = helpers.get(local_env, namespace, "pvc")["items"]
    assert [c["metadata"]["name"] for c in claims_left] == [backupstore.CLAIM]
    volumes = localenv.get_json(local_env, namespace, "pv")["items"]
    assert not [v for v in volumes if v["spec"]["claimRef"]["name"] in claims]
    # And no data: every path left under the volumes' root is a live volume's.
    root = volumes_dir(localenv.Paths(local_env.name))
    left = {p.name for p in root.iterdir()} if root.exists() else set()
    assert left <= {v["metadata"]["name"] for v in volumes}, left
    # The host agent removes the devices once it sees the ClusterNetwork gone.
    wait_for(lambda: bridge not in node_links(local_env), timeout=120, what="the bridge gone")
    links = node_links(local_env)
    assert not [link for link in links if link.startswith(f"tap-{CLUSTER}-")]
