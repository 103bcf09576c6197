"""What the reliability scenarios share: operators that can be killed, leak checks, summaries.

``Supervised`` runs the five operators as processes watching one namespace,
restarting any that dies after a second, the way the kubelet restarts an
operator's container; ``kill`` sends SIGKILL (no shutdown handler runs, so
whatever the operator was in the middle of is cut off).

``leftovers`` lists everything of a deleted cluster that is still there,
from the API server and OpenBao, never from the operators' own reports;
``children_count`` finds duplicates; ``pki_damage`` what of a living
cluster's PKI was lost (its CA replaced, a TLS Secret left broken);
``signed_twice`` compares what Vault signed, from its audit log, with the
Certificates' revisions.

Each scenario ends with one ``Summary`` line (faults injected, clusters
converged, objects leaked, data lost); conftest.py prints them all at the end
of the run.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from operators.network.children import record
from operators.network.context import NetworkSettings
from shared.api import certificates as catalogue
from shared.api import names
from shared.api.kinds import ALL_KINDS
from shared.api.labels import CLUSTER
from shared.vault import TokenAuth, Vault
from tests.e2e.cluster.helpers import is_ready, observed
from tests.localenv import OPERATOR_SETTINGS, LocalEnv, Paths, get_json, spawn_detached
from tests.operators import wait_for
from tests.processes import read_pid, stop_pid
from tests.volumes import running_provisioner

ROOT = Path(__file__).resolve().parents[2]
CHILD_KINDS = tuple(f"{kind.plural}.g8s.io" for kind in ALL_KINDS if kind.kind != "Cluster")
# What the operators and the workload controllers write besides the child CRs.
WRITTEN = (
    "secrets",
    "services",
    "configmaps",
    "persistentvolumeclaims",
    "statefulsets.apps",
    "deployments.apps",
    "replicasets.apps",
    "pods",
    "poddisruptionbudgets.policy",
    "networkpolicies.networking.k8s.io",
)
SUMMARIES: list[str] = []


@dataclass
class Summary:
    scenario: str
    faults: int = 0
    converged: int = 0
    clusters: int = 0
    leaked: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"{self.scenario}: faults injected {self.faults}, clusters converged "
            f"{self.converged}/{self.clusters}, objects leaked {len(self.leaked)}, "
            f"data lost {len(self.lost)}"
        )

    def check(self) -> None:
        """Record the line for the run's summary, then assert nothing leaked or was lost."""
        SUMMARIES.append(self.line())
        print(self.line())
        assert not self.leaked, f"leaked: {self.leaked}"
        assert not self.lost, f"lost: {self.lost}"
        assert self.converged == self.clusters, self.line()


# --- operators that can be killed ---------------------------------------------------------


@dataclass
class Supervised:
    """The five operators as processes, each restarted a second after it dies."""

    env: LocalEnv
    namespace: str
    log_dir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    kills: int = 0
    _stopping: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, name: str) -> None:
        environ = {
            **os.environ,
            **OPERATOR_SETTINGS,
            **self.env.env(),
            "G8S_NAMESPACES": self.namespace,
            "G8S_LOG_FORMAT": "json",
            "PYTHONUNBUFFERED": "1",
        }
        # Appended: one log per operator across its restarts.
        with (self.log_dir / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", f"operators.{name}"],
                cwd=ROOT,
                env=environ,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self, name: str) -> None:
        """SIGKILL ``name``; it is started again a second later."""
        with self._lock:
            process = self.processes[name]
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            self.kills += 1
        time.sleep(1.0)
        with self._lock:
            if not self._stopping:
                self.start(name)

    def kill_random(self, rng: random.Random) -> str:
        name = rng.choice(sorted(self.processes))
        self.kill(name)
        return name

    def crashed(self) -> list[str]:
        """Operators that exited on their own (not killed by the scenario)."""
        return [n for n, p in self.processes.items() if p.poll() is not None]

    def logs(self) -> dict[str, str]:
        return {
            name: (self.log_dir / f"{name}.log").read_text(errors="replace")
            for name in self.processes
        }

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            for process in self.processes.values():
                process.send_signal(signal.SIGTERM)
            for process in self.processes.values():
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)


@contextlib.contextmanager
def supervised(env: LocalEnv, namespace: str, log_dir: Path) -> Iterator[Supervised]:
    """The five operators (supervised) and the volume provisioner; logs printed on failure."""
    ops = Supervised(env, namespace, log_dir)
    with running_provisioner(env, log_dir) as provisioner:
        for kind in ALL_KINDS:
            ops.start(kind.operator)
        try:
            yield ops
        except BaseException:
            for name, text in ops.logs().items():
                print(f"===== {name} log (tail) =====\n{text[-6000:]}")
            print(f"===== volume provisioner log (tail) =====\n{provisioner.log()[-3000:]}")
            raise
        finally:
            ops.stop()


@contextlib.contextmanager
def storm(ops: Supervised, *, every: float, seed: int = 0) -> Iterator[list[str]]:
    """SIGKILL a random operator every ``every`` seconds until the block ends."""
    killed: list[str] = []
    done = threading.Event()
    rng = random.Random(seed)

    def loop() -> None:
        while not done.wait(every):
            killed.append(ops.kill_random(rng))

    thread = threading.Thread(target=loop, name="crash-storm", daemon=True)
    thread.start()
    try:
        yield killed
    finally:
        done.set()
        thread.join(timeout=30)


# --- Vault taken away -----------------------------------------------------------------------

UNSEAL_KEY = re.compile(r"^Unseal Key: (\S+)$", re.MULTILINE)


@contextlib.contextmanager
def vault_stopped(env: LocalEnv) -> Iterator[None]:
    """OpenBao frozen (SIGSTOP): connections are accepted and never answered."""
    pid = int(Paths(env.name).vault_pid.read_text())
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


@contextlib.contextmanager
def vault_sealed(env: LocalEnv) -> Iterator[None]:
    """OpenBao sealed: it answers every request with 503 until unsealed with its key."""
    log = Paths(env.name).vault_log.read_text(errors="replace")
    keys = UNSEAL_KEY.findall(log)
    assert keys, "the dev server's log has no unseal key: it could not be unsealed"
    _vault_put(env, "sys/seal", {})
    try:
        yield
    finally:
        # A dev server started more than once in this log: its key is the last.
        _vault_put(env, "sys/unseal", {"key": keys[-1]})


def _vault_put(env: LocalEnv, path: str, body: dict[str, Any]) -> None:
    answer = requests.put(
        f"{env.vault_addr}/v1/{path}",
        json=body,
        headers={"X-Vault-Token": env.vault_token},
        timeout=10,
    )
    answer.raise_for_status()


# --- the host's API server taken away ----------------------------------------------------


@contextlib.contextmanager
def apiserver_down(env: LocalEnv) -> Iterator[None]:
    """The host's kube-apiserver stopped (SIGTERM, as a restart does) for the block.

    It comes back with the same flags and environment, its output appended
    to the log kwokctl gave it, its pid where kwokctl looks for it (so
    ``make down`` still stops it); the block's end waits until it answers.
    """
    cluster = Paths(env.name).cluster_dir
    pid_file = cluster / "pids" / "kube-apiserver.pid"
    pid = read_pid(pid_file)
    assert pid is not None, f"no kube-apiserver pid in {pid_file}"
    proc = Path(f"/proc/{pid}")
    argv = [a.decode() for a in proc.joinpath("cmdline").read_bytes().split(b"\0") if a]
    environ = dict(
        entry.decode().split("=", 1)
        for entry in proc.joinpath("environ").read_bytes().split(b"\0")
        if b"=" in entry
    )
    stop_pid(pid)
    try:
        yield
    finally:
        new = spawn_detached(argv, log=cluster / "logs" / "kube-apiserver.log", env=environ)
        pid_file.write_text(str(new))
        wait_for(lambda: answers(env), timeout=120, what="the API server back", interval=0.5)


def answers(env: LocalEnv) -> bool:
    return env.kubectl("get", "--raw", "/readyz", check=False, timeout=10).returncode == 0


# --- reading what is there ------------------------------------------------------------------


def vault(env: LocalEnv) -> Vault:
    return Vault(env.vault_addr, TokenAuth(lambda: env.vault_token))


def items(env: LocalEnv, namespace: str, *what: str) -> list[dict[str, Any]]:
    return list(get_json(env, namespace, *what)["items"])


def clusters(env: LocalEnv, namespace: str) -> dict[str, dict[str, Any]]:
    return {c["metadata"]["name"]: c for c in items(env, namespace, "clusters.g8s.io")}


def ready(body: dict[str, Any]) -> bool:
    """Ready for the object's latest spec: a Ready from before an edit is not an answer to it."""
    return is_ready(body) and observed(body)


def network_uid(env: LocalEnv, namespace: str, cluster: str) -> str:
    body = get_json(env, namespace, "clusternetworks.g8s.io", names.cluster_network(cluster))
    return str(body["metadata"]["uid"])


def is_claim_of(claim: str, cluster: str) -> bool:
    """Whether a claim name is one the cluster's operators make (a VM disk, etcd data)."""
    etcd = f"data-{names.etcd_statefulset(cluster)}-"
    return (claim.startswith(f"{cluster}-") and claim.endswith("-disk")) or claim.startswith(etcd)


def leftovers(
    env: LocalEnv, namespace: str, cluster: str, network_uids: Sequence[str] = ()
) -> list[str]:
    """Everything of ``cluster`` still there: objects, volumes, Vault mount, records."""
    return leftovers_of(env, namespace, {cluster: network_uids})[cluster]


def leftovers_of(
    env: LocalEnv, namespace: str, clusters: Mapping[str, Sequence[str]]
) -> dict[str, list[str]]:
    """``leftovers`` of many clusters (name -> their networks' uids) of one namespace.

    Each kind is listed once for all of them, so that checking 1,000 deleted
    clusters costs a few listings, not a few thousand.
    """
    found: dict[str, list[str]] = {cluster: [] for cluster in clusters}
    labelled = items(env, namespace, ",".join((*CHILD_KINDS, *WRITTEN)), "-l", CLUSTER)
    for item in labelled:
        owner = item["metadata"]["labels"][CLUSTER]
        if owner in found:
            found[owner].append(f"{item['kind']}/{item['metadata']['name']}")
    for c in items(env, namespace, "clusters.g8s.io"):
        if c["metadata"]["name"] in found:
            found[c["metadata"]["name"]].append(f"Cluster/{c['metadata']['name']}")
    for volume in items(env, namespace, "persistentvolumes"):
        ref = volume["spec"].get("claimRef") or {}
        for cluster, things in found.items():
            if ref.get("namespace") == namespace and is_claim_of(str(ref.get("name")), cluster):
                things.append(f"PersistentVolume/{volume['metadata']['name']}")
    mounts = set(vault(env).mounts(catalogue.mount_path(namespace, "")))
    for cluster, things in found.items():
        mount = catalogue.mount_path(namespace, cluster)
        if mount in mounts:
            things.append(f"VaultMount/{mount}")
    by_owner = {uid: cluster for cluster, uids in clusters.items() for uid in uids}
    system = NetworkSettings().allocation_namespace
    for r in items(env, system, "configmaps", "-l", record.selector()) if by_owner else []:
        owner = by_owner.get(r["metadata"]["labels"].get(record.OWNER_UID, ""))
        if owner is not None:
            found[owner].append(f"AllocationRecord/{r['metadata']['name']}")
    return found


def signatures(env: LocalEnv, mount: str) -> Counter[str]:
    """How many certificates Vault signed on ``mount``, per role, from its audit log.

    Not from the leaves the mount stores (the operator's own record, which
    it looks up after a crash): every successful ``<mount>/sign/<role>``
    response is in the audit log.
    """
    count: Counter[str] = Counter()
    with Paths(env.name).vault_audit.open() as log:
        for line in log:
            entry = json.loads(line)
            path = (entry.get("request") or {}).get("path") or ""
            if entry.get("type") == "response" and path.startswith(f"{mount}/sign/"):
                count[path.rsplit("/", 1)[1]] += not entry.get("error")
    return count


def signed_twice(env: LocalEnv, namespace: str, name: str) -> list[str]:
    """The cluster's Certificates Vault signed more certificates for than they have
    revisions: each extra one is a valid credential nobody holds (a leak).

    Per role, so that the certificates of a node removed since do not count.
    """
    signed = signatures(env, catalogue.mount_path(namespace, name))
    found = []
    for item in items(env, namespace, "certificates.g8s.io", "-l", f"g8s.io/cluster={name}"):
        spec = item["spec"]
        if spec["component"] == catalogue.SERVICE_ACCOUNT:
            continue  # a key pair made here: Vault signs nothing for it
        role = catalogue.role_name(spec["component"], spec.get("node") or "")
        revisions = int((item.get("status") or {}).get("revision") or 0)
        if signed[role] != revisions:
            found.append(
                f"{item['metadata']['name']}: {signed[role]} signed, {revisions} revisions"
            )
    return found


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


def children_count(env: LocalEnv, namespace: str, name: str) -> dict[str, int]:
    selector = f"g8s.io/cluster={name}"
    kinds = "kvmnodes.g8s.io,etcdclusters.g8s.io,clusternetworks.g8s.io,certificates.g8s.io"
    counts: dict[str, int] = {}
    for item in items(
        env, namespace, f"{kinds},deployments.apps,statefulsets.apps", "-l", selector
    ):
        counts[item["kind"]] = counts.get(item["kind"], 0) + 1
    return counts


def pki_damage(env: LocalEnv, namespace: str, name: str, ca: bytes) -> list[str]:
    """What of the cluster's PKI was lost: its CA replaced, a TLS Secret left broken."""
    damage = [] if ca_of(env, namespace, name) == ca else [f"{name}: the CA changed"]
    for secret_name, secret in tls_secrets(env, namespace, name).items():
        why = broken(secret, ca)
        if why:
            damage.append(f"{secret_name}: {why}")
    return damage


def dump(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True)
