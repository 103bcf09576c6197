"""The local environment: a real control plane, a real node, simulated hosts, OpenBao.

See docs/design.md#the-local-environment.

``python -m tests.localenv up|down|status|env|operators|stop`` (``make up`` / ``make down``
call it; ``make demo`` runs ``operators``, which starts the five operators and
the volume provisioner (tests/volumes.py) as processes with their logs under
``.state/<name>/operators/``; ``stop`` (``make demo-down``) and ``down`` stop them).

``up`` starts, from the binaries in ``.tools/bin`` only (nothing is downloaded at
run time):

- a Kubernetes control plane through ``kwokctl create cluster --runtime binary``:
  etcd, kube-apiserver, kube-controller-manager, kube-scheduler and the kwok
  controller, as local processes on loopback;
- three simulated host nodes (``kwokctl scale node``), which kwok keeps Ready
  and on which host pods get scheduled and reach Running without a container
  runtime;
- OpenBao in dev mode (``bao server -dev``) on a free loopback port, as the Vault.

Everything an environment writes lives under ``.state/<name>/``: kwokctl's work
directory (``kwok/``, with the kubeconfig, PKI, etcd data, logs and pids), the
OpenBao pid and log, and ``env.json`` describing the running environment. The
name comes from ``G8S_ENV_NAME`` (default ``g8s``), so the tests run their own
environment (``g8s-test``) beside a developer's ``make up``; every port is
chosen free at start, so two environments never collide.

``up`` is idempotent: when the environment already answers it only prints where
it is. ``down`` stops every process of the environment and removes its state.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.api import labels
from tests import hostnode, images
from tests.processes import alive, cmdline, exited, read_pid, stop_pid, tail

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".tools" / "bin"
# The project's `g8s` console script, beside the interpreter of its virtualenv.
G8S_CLI = Path(sys.executable).with_name("g8s")
STATE = ROOT / ".state"

DEFAULT_NAME = "g8s"
NAME_VARIABLE = "G8S_ENV_NAME"


def module_version(tool: str, module: str) -> str:
    """The version of ``module`` that the wrapper module .ci/tools/<tool> pins in its go.mod."""
    for line in (ROOT / ".ci" / "tools" / tool / "go.mod").read_text().splitlines():
        fields = line.split()
        if fields[:1] == ["require"]:
            fields = fields[1:]
        if len(fields) >= 2 and fields[0] == module:
            return fields[1]
    raise LookupError(f"{module} is not required in .ci/tools/{tool}/go.mod")


# Pinned once, in the wrapper modules' go.mod (the Makefile reads them there too).
KUBE_VERSION = module_version("controlplane", "k8s.io/kubernetes")  # "v1.34.4"
ETCD_VERSION = module_version("etcd", "go.etcd.io/etcd/server/v3").removeprefix("v")
HOST_NODES = 3
# The annotation ``kwokctl scale node`` puts on the simulated hosts it makes.
KWOK_NODE_SELECTOR = "kwok.x-k8s.io/node=fake"
VAULT_TOKEN = "g8s-root"
SYSTEM_NAMESPACE = "g8s-system"

# The binaries `up` needs; `make tools` puts them into .tools/bin.
CONTROL_PLANE_TOOLS = (
    "kwokctl",
    "kwok",
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
)
REQUIRED_TOOLS = (*CONTROL_PLANE_TOOLS, "bao")

READY_TIMEOUT = 120.0


class LocalEnvError(RuntimeError):
    """The local environment could not be brought up, or is not up."""


class MissingToolError(LocalEnvError):
    """A binary the local environment needs is not in .tools/bin."""


class CommandError(subprocess.CalledProcessError):
    """A command failed; unlike its base class, the message carries stderr."""

    def __str__(self) -> str:
        stderr = (self.stderr or "").strip()
        cmd = " ".join(str(a) for a in self.cmd)
        return f"`{cmd}` exited {self.returncode}" + (f":\n{stderr}" if stderr else "")


@dataclass(frozen=True)
class LocalEnv:
    """A running local environment: where its API server and its Vault are."""

    name: str
    kubeconfig: Path
    vault_addr: str
    vault_token: str
    # The hosts mode: "real" (a real node beside the simulated ones) or
    # "simulated" (kwok nodes only, with the reason in ``fallback_reason``).
    hosts: str = "simulated"
    fallback_reason: str = ""

    @property
    def real_node(self) -> bool:
        return self.hosts == "real"

    def env(self) -> dict[str, str]:
        """The current environment plus what a client of this one needs.

        KUBECONFIG, VAULT_ADDR/VAULT_TOKEN (and OpenBao's BAO_ADDR/BAO_TOKEN),
        .tools/bin first on PATH, and kubectl's cache under .state/.
        """
        return {
            **tool_env(Paths(self.name)),
            "KUBECONFIG": str(self.kubeconfig),
            "VAULT_ADDR": self.vault_addr,
            "VAULT_TOKEN": self.vault_token,
            "BAO_ADDR": self.vault_addr,
            "BAO_TOKEN": self.vault_token,
        }

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        timeout: float = 120.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run .tools/bin/kubectl against this environment; raise CommandError if check fails.

        Each call discovers the API afresh (a new, empty discovery cache, about
        0.1 s on loopback), so a CRD installed a moment ago is never hidden by
        a stale cache.
        """
        with tempfile.TemporaryDirectory(prefix="kubectl-cache-") as cache:
            return run(
                [str(BIN / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
                input=input,
                check=check,
                timeout=timeout,
                env={**tool_env(Paths(self.name)), "KUBECACHEDIR": cache},
            )

    def g8s(
        self, *args: str, check: bool = True, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run the `g8s` command line against this environment; CommandError if check fails."""
        return run([str(G8S_CLI), *args], check=check, timeout=timeout, env=self.env())

    def to_json(self) -> str:
        return json.dumps(
            {
                "name": self.name,
                "kubeconfig": str(self.kubeconfig),
                "vault_addr": self.vault_addr,
                "vault_token": self.vault_token,
                "hosts": self.hosts,
                "fallback_reason": self.fallback_reason,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> LocalEnv:
        data = json.loads(text)
        return cls(
            name=str(data["name"]),
            kubeconfig=Path(data["kubeconfig"]),
            vault_addr=str(data["vault_addr"]),
            vault_token=str(data["vault_token"]),
            hosts=str(data.get("hosts", "simulated")),
            fallback_reason=str(data.get("fallback_reason", "")),
        )


def run(
    cmd: Sequence[str],
    *,
    input: str | None = None,
    check: bool = True,
    timeout: float | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command without a terminal, capturing its output as text."""
    proc = subprocess.run(
        list(cmd),
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    if check and proc.returncode != 0:
        raise CommandError(proc.returncode, proc.args, proc.stdout, proc.stderr)
    return proc


# --- where things are -------------------------------------------------------


def env_name() -> str:
    """The environment's name: $G8S_ENV_NAME, else ``g8s``."""
    return os.environ.get(NAME_VARIABLE) or DEFAULT_NAME


@dataclass(frozen=True)
class Paths:
    """Every file an environment named ``name`` writes."""

    name: str

    @property
    def state(self) -> Path:
        return STATE / self.name

    @property
    def kwok_workdir(self) -> Path:
        return self.state / "kwok"

    @property
    def kwok_config(self) -> Path:
        return self.state / "kwokctl.yaml"

    @property
    def cluster_dir(self) -> Path:
        return self.kwok_workdir / "clusters" / self.name

    @property
    def kubeconfig(self) -> Path:
        return self.cluster_dir / "kubeconfig.yaml"

    @property
    def vault_pid(self) -> Path:
        return self.state / "bao.pid"

    @property
    def vault_log(self) -> Path:
        return self.state / "bao.log"

    @property
    def vault_home(self) -> Path:
        """bao's $HOME: it writes the dev root token to ~/.vault-token."""
        return self.state / "bao-home"

    @property
    def vault_config(self) -> Path:
        return self.state / "bao.hcl"

    @property
    def vault_audit(self) -> Path:
        """OpenBao's audit log: a JSON line per request and response (secrets HMAC'd)."""
        return self.state / "bao-audit.log"

    @property
    def env_file(self) -> Path:
        return self.state / "env.json"

    @property
    def lock(self) -> Path:
        return STATE / f".{self.name}.lock"


def missing_tools(names: Sequence[str] = REQUIRED_TOOLS) -> list[str]:
    """The tools among ``names`` that are not executable in .tools/bin."""
    return [n for n in names if not os.access(BIN / n, os.X_OK)]


def require_tools(names: Sequence[str] = REQUIRED_TOOLS) -> None:
    missing = missing_tools(names)
    if missing:
        raise MissingToolError(
            f"missing in {BIN}: {', '.join(missing)}; run `make tools` first "
            "(it builds and installs them from the package registries)"
        )


@contextlib.contextmanager
def locked(paths: Paths) -> Iterator[None]:
    """Serialise up/down of one environment across processes."""
    STATE.mkdir(parents=True, exist_ok=True)
    with paths.lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- kwokctl ------------------------------------------------------------------


def tool_env(paths: Paths) -> dict[str, str]:
    """Environment for our tools: .tools/bin first on PATH, kubectl's cache under .state/."""
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "KUBECACHEDIR": str(paths.state / "kube-cache"),
    }


def kwok_env(paths: Paths) -> dict[str, str]:
    """Environment for kwokctl: its state under .state/, our binaries, no downloads."""
    return {
        **tool_env(paths),
        "KWOK_WORKDIR": str(paths.kwok_workdir),
        "KWOK_KUBE_VERSION": KUBE_VERSION,
        "KWOK_KUBECTL_BINARY": str(BIN / "kubectl"),
        "KWOK_QUIET_PULL": "true",
    }


def kwokctl(paths: Paths, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(
        [str(BIN / "kwokctl"), f"--config={paths.kwok_config}", "--name", paths.name, *args],
        env=kwok_env(paths),
        check=check,
        timeout=300,
    )


def kwokctl_config(paths: Paths, node: hostnode.NodePlan | None) -> dict[str, object]:
    """kwokctl's configuration: on loopback, the API server also for a real node.

    With a real node the API server also serves the node's Service range (so
    kube-proxy can route the ``kubernetes`` Service to it), carries the
    addresses pods use in its certificate, and reaches kubelets by their
    InternalIP with a client certificate (logs, exec, port-forward).
    """
    options: dict[str, object] = {
        # kwokctl wires its components to each other over loopback.
        "bindAddress": "127.0.0.1",
        "etcdVersion": ETCD_VERSION,
        "etcdutlBinary": str(BIN / "etcdutl"),
    }
    patches: list[dict[str, object]] = [
        {
            # kwok would otherwise take over every Node whose Lease nobody
            # holds, the real node's too whenever its kubelet's Lease lapses
            # (it then hands the real node's pods addresses from its own range).
            # It manages only the hosts ``kwokctl scale node`` makes, which
            # carry this annotation.
            "name": "kwok-controller",
            "extraArgs": [
                {"key": "manage-all-nodes", "value": "false", "override": True},
                {"key": "manage-nodes-with-annotation-selector", "value": KWOK_NODE_SELECTOR},
            ],
        },
    ]
    # One replica each, and nothing here restarts them: leader election would
    # only make them exit for good when a lease renewal fails (an API server
    # restart), leaving Deployments and garbage collection dead. Without it
    # they wait for the API server and carry on.
    for name in ("kube-controller-manager", "kube-scheduler"):
        patches.append({"name": name, "extraArgs": [{"key": "leader-elect", "value": "false"}]})
    config: dict[str, object] = {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokctlConfiguration",
        "options": options,
        "componentsPatches": patches,
    }
    if node is not None:
        pki = paths.cluster_dir / "pki"
        options["kubeApiserverCertSANs"] = [
            node.host_ip,
            node.api_service_ip,
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ]
        # The API server also listens beyond loopback, so the node and its pods
        # reach it at the host end of the veth (advertised to the
        # ``kubernetes`` Service); it authenticates every client (TLS).
        args = {
            "bind-address": "0.0.0.0",  # noqa: S104 - see above
            "advertise-address": node.host_ip,
            "service-cluster-ip-range": str(node.service_cidr),
            "kubelet-preferred-address-types": "InternalIP",
            "kubelet-client-certificate": str(pki / "admin.crt"),
            "kubelet-client-key": str(pki / "admin.key"),
        }
        patches.append(
            {
                "name": "kube-apiserver",
                # "override" replaces a flag kwokctl sets; the others are added.
                "extraArgs": [
                    {"key": k, "value": v, "override": k == "bind-address"} for k, v in args.items()
                ],
            }
        )
    return config


def create_cluster(paths: Paths, node: hostnode.NodePlan | None) -> None:
    paths.state.mkdir(parents=True, exist_ok=True)
    paths.kwok_config.write_text(json.dumps(kwokctl_config(paths, node), indent=2))
    kwokctl(
        paths,
        "create",
        "cluster",
        "--runtime=binary",
        f"--kube-apiserver-binary={BIN / 'kube-apiserver'}",
        f"--kube-controller-manager-binary={BIN / 'kube-controller-manager'}",
        f"--kube-scheduler-binary={BIN / 'kube-scheduler'}",
        f"--etcd-binary={BIN / 'etcd'}",
        f"--kwok-controller-binary={BIN / 'kwok'}",
        # Do not add a context to the user's ~/.kube/config.
        "--kubeconfig=",
        f"--wait={int(READY_TIMEOUT)}s",
    )


def api_ready(paths: Paths, kubeconfig: Path | None = None) -> bool:
    """True when the API server of ``kubeconfig`` (default: the environment's) is ready."""
    kubeconfig = kubeconfig or paths.kubeconfig
    if not kubeconfig.exists():
        return False
    proc = run(
        [str(BIN / "kubectl"), "--kubeconfig", str(kubeconfig), "get", "--raw", "/readyz"],
        check=False,
        timeout=15,
        env=tool_env(paths),
    )
    return proc.returncode == 0 and proc.stdout.strip() == "ok"


def wait_for(what: str, ready: Callable[[], bool], timeout: float = READY_TIMEOUT) -> None:
    """Poll ``ready()`` until it is true; raise LocalEnvError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise LocalEnvError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)


def ensure_nodes(env: LocalEnv, count: int = HOST_NODES) -> None:
    """Scale the simulated hosts to ``count`` and wait until they are Ready."""
    # Their addresses too are inside the reserved test range (never used on
    # the wire: these hosts exist only in the API).
    node = hostnode.plan(env.name)
    kwokctl(
        Paths(env.name),
        "scale",
        "node",
        f"--replicas={count}",
        f"--param=.nodeIPs={json.dumps([node.simulated_node_ip])}",
        f"--param=.podCIDRs={json.dumps([str(node.simulated_pod_cidr)])}",
    )
    env.kubectl(
        "wait", "--for=condition=Ready", "node", "--all", f"--timeout={int(READY_TIMEOUT)}s"
    )
    # Say on each simulated host that its pods do not really run.
    env.kubectl(
        "label",
        "nodes",
        "--selector=type=kwok",
        "--overwrite",
        f"{labels.HOST}={labels.HOST_SIMULATED}",
    )


def ensure_system_namespace(env: LocalEnv) -> None:
    """The namespace the operators' charts install into; the network operator
    keeps its allocation records there."""
    manifest = json.dumps(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SYSTEM_NAMESPACE}}
    )
    env.kubectl("apply", "--server-side", "--field-manager=g8s-localenv", "-f", "-", input=manifest)


def get_json(env: LocalEnv, namespace: str, *what: str) -> dict[str, Any]:
    """``kubectl get <what> -n <namespace> -o json``, parsed; CommandError if it fails."""
    return dict(json.loads(env.kubectl("get", *what, "-n", namespace, "-o", "json").stdout))


def find_json(env: LocalEnv, namespace: str, *what: str) -> dict[str, Any] | None:
    """Like ``get_json``, but None when kubectl cannot get it (not found)."""
    result = env.kubectl("get", *what, "-n", namespace, "-o", "json", check=False)
    return dict(json.loads(result.stdout)) if result.returncode == 0 else None


# --- OpenBao ------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def vault_healthy(addr: str) -> bool:
    try:
        with urllib.request.urlopen(f"{addr}/v1/sys/health", timeout=2) as resp:  # noqa: S310
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def is_our_vault(pid: int, paths: Paths) -> bool:
    """True when ``pid`` is the bao server this environment started (not a reused pid)."""
    args = cmdline(pid)
    if not args or Path(args[0]).name != "bao" or "-dev" not in args:
        return False
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return f"HOME={paths.vault_home}".encode() in environ


def spawn_detached(argv: Sequence[str], log: Path, env: dict[str, str]) -> int:
    """Start ``argv`` in a new session, stdin from /dev/null, output appended to ``log``.

    posix_spawn rather than Popen: the server outlives this process, and a
    Popen object dropped while its child runs warns (an error under pytest).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
    return os.posix_spawn(
        argv[0],
        list(argv),
        env,
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(log), flags, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,
    )


def start_vault(paths: Paths, host: str = "127.0.0.1") -> str:
    """Start ``bao server -dev`` on a free port of ``host``; return its address.

    With a real node ``host`` is the host end of the node's veth, so pods (the
    certificates operator's) reach the Vault too.
    """
    paths.vault_home.mkdir(parents=True, exist_ok=True)
    # A file audit device, declared (OpenBao enables none through its API):
    # what Vault itself did, e.g. how many certificates it signed, can be
    # counted by the tests from Vault's record rather than the operators'.
    paths.vault_config.write_text(
        f'audit "file" "g8s" {{\n  options {{\n    file_path = "{paths.vault_audit}"\n  }}\n}}\n'
    )
    for _attempt in range(3):
        port = free_port(host)
        addr = f"http://{host}:{port}"
        pid = spawn_detached(
            [
                str(BIN / "bao"),
                "server",
                "-dev",
                f"-dev-root-token-id={VAULT_TOKEN}",
                f"-dev-listen-address={host}:{port}",
                f"-config={paths.vault_config}",
            ],
            log=paths.vault_log,
            # bao -dev writes the root token to $HOME/.vault-token.
            env={**os.environ, "HOME": str(paths.vault_home)},
        )
        paths.vault_pid.write_text(f"{pid}\n")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not exited(pid):
            if vault_healthy(addr):
                return addr
            time.sleep(0.2)
        stop_pid(pid)  # did not answer in time, or exited (port taken): try another port
    raise LocalEnvError(f"OpenBao did not start; {paths.vault_log}:\n{tail(paths.vault_log)}")


# --- up / down / status ---------------------------------------------------------


def status(name: str | None = None) -> LocalEnv | None:
    """The environment if its API server and Vault both answer, else None."""
    paths = Paths(name or env_name())
    try:
        env = LocalEnv.from_json(paths.env_file.read_text())
    except (OSError, ValueError, KeyError):
        return None
    if not (api_ready(paths, env.kubeconfig) and vault_healthy(env.vault_addr)):
        return None
    if env.real_node and not all(
        hostnode.running(node_paths(paths), p) for p in hostnode.PROCESSES
    ):
        return None
    return env


def up(name: str | None = None) -> LocalEnv:
    """Bring the environment up (or find it up) and return it."""
    paths = Paths(name or env_name())
    require_tools()
    with locked(paths):
        current = status(paths.name)
        if current is not None:
            return current
        paths.state.mkdir(parents=True, exist_ok=True)

        # The real node's network comes first: the control plane listens on it.
        reason = hostnode.unsupported_reason() or missing_node_tools()
        node = None if reason else hostnode.plan(paths.name)
        if node is None:
            print(
                f"no real host node: {reason}; falling back to simulated (kwok) hosts only",
                file=sys.stderr,
            )
        else:
            hostnode.ensure_network(node)

        # The control plane: reuse a running one, restart a stopped one, else create.
        if not api_ready(paths):
            if paths.cluster_dir.exists():
                started = kwokctl(paths, "start", "cluster", check=False).returncode == 0
                if not (started and _wait_quietly(lambda: api_ready(paths), 60)):
                    kwokctl(paths, "delete", "cluster", check=False)
                    shutil.rmtree(paths.kwok_workdir, ignore_errors=True)
            if not paths.cluster_dir.exists():
                try:
                    create_cluster(paths, node)
                except CommandError as exc:
                    raise LocalEnvError(f"kwokctl create cluster failed: {exc}") from exc
            wait_for("the API server's /readyz", lambda: api_ready(paths))

        # The Vault: reuse a healthy one, else (re)start it.
        vault_addr = ""
        with contextlib.suppress(OSError, ValueError, KeyError):
            vault_addr = LocalEnv.from_json(paths.env_file.read_text()).vault_addr
        if not (vault_addr and vault_healthy(vault_addr)):
            _stop_vault(paths)
            vault_addr = start_vault(paths, node.host_ip if node else "127.0.0.1")

        env = LocalEnv(
            name=paths.name,
            kubeconfig=paths.kubeconfig,
            vault_addr=vault_addr,
            vault_token=VAULT_TOKEN,
            hosts="simulated" if node is None else "real",
            fallback_reason=reason,
        )
        if node is not None:
            start_real_node(env, node)
        ensure_nodes(env)
        ensure_system_namespace(env)
        paths.env_file.write_text(env.to_json() + "\n")
        return env


def missing_node_tools() -> str:
    missing = missing_tools(("kubelet", "kube-proxy"))
    return f"{', '.join(missing)} not built (make tools)" if missing else ""


def node_paths(paths: Paths) -> hostnode.NodePaths:
    return hostnode.NodePaths(root=paths.state / "node", env=paths.name)


def start_real_node(env: LocalEnv, node: hostnode.NodePlan) -> None:
    """Build (or find cached) the node's images and start containerd, kubelet, kube-proxy."""
    paths = Paths(env.name)
    pki = paths.cluster_dir / "pki"
    server = f"https://{node.host_ip}:{api_port(env.kubeconfig)}"
    try:
        hostnode.start(
            node,
            node_paths(paths),
            ca_cert=pki / "ca.crt",
            ca_key=pki / "ca.key",
            server=server,
            images=images.build_local_images(),
            pause_image=images.PAUSE_IMAGE,
            spawn=lambda argv, log: spawn_detached(argv, log, tool_env(paths)),
            kubectl=env.kubectl,
        )
    except hostnode.NodeError as exc:
        raise LocalEnvError(f"the real host node did not start: {exc}") from exc


def api_port(kubeconfig: Path) -> int:
    """The API server's port, from the server URL of ``kubeconfig``."""
    for line in kubeconfig.read_text().splitlines():
        if "server:" in line:
            return int(line.rsplit(":", 1)[1].strip().rstrip("/"))
    raise LocalEnvError(f"no server in {kubeconfig}")


def _wait_quietly(ready: Callable[[], bool], timeout: float) -> bool:
    try:
        wait_for("", ready, timeout)
    except LocalEnvError:
        return False
    return True


def _stop_vault(paths: Paths) -> None:
    pid = read_pid(paths.vault_pid)
    if pid is not None and is_our_vault(pid, paths):
        stop_pid(pid)
    paths.vault_pid.unlink(missing_ok=True)


def leftover_pids(paths: Paths) -> list[int]:
    """Processes still running from this environment's state directory."""
    marker = str(paths.state) + os.sep
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        if not alive(pid):
            continue
        if any(marker in arg for arg in cmdline(pid)):
            found.append(pid)
    return found


OPERATORS = ("cluster", "certificates", "etcd", "network", "kvm")

# How the operators are configured in this environment (docs/design.md#the-local-environment): no
# guest VM boots and no etcd member pod really runs, so guest-side checks are
# off and readiness comes from the (simulated) host pods; conditions say so.
OPERATOR_SETTINGS = {
    "G8S_ETCD_PROBE_MEMBERS": "false",
    # No network agent runs on the simulated hosts.
    "G8S_NETWORK_REQUIRE_HOSTS": "false",
    # No guest API answers: no drain before deletion, readiness from host pods.
    "G8S_KVM_GUEST_CHECKS": "false",
}


def network_settings(name: str) -> dict[str, str]:
    """The network operator's subnet pool in environment ``name``: inside the test range."""
    node = hostnode.plan(name)
    return {
        "G8S_NETWORK_SUBNET_POOL": str(node.guest_pool),
        "G8S_NETWORK_SUBNET_PREFIX": str(node.guest_prefix),
    }


def operator_environment(env: LocalEnv) -> dict[str, str]:
    """The process environment for an operator run against ``env``."""
    return {
        **env.env(),
        **OPERATOR_SETTINGS,
        **network_settings(env.name),
        "G8S_LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
    }


def operators_dir(paths: Paths) -> Path:
    return paths.state / "operators"


# The volume provisioner (tests/volumes.py) runs beside the operators, its pid
# and log in the same folder: the environment has no provisioner of its own.
PROVISIONER = "volumes"
PROVISIONER_MODULE = "tests.volumes"


def process_module(process: str) -> str:
    """The module ``python -m`` runs for an operator, or for the provisioner."""
    return PROVISIONER_MODULE if process == PROVISIONER else f"operators.{process}"


def start_operators(
    env: LocalEnv, processes: Sequence[str] = (*OPERATORS, PROVISIONER)
) -> dict[str, Path]:
    """Run the five operators and the volume provisioner as processes against ``env``.

    Each operator runs as ``python -m operators.<name>`` with the environment's
    KUBECONFIG and Vault settings, the provisioner as ``python -m
    tests.volumes --name <env>``; pids and logs live under
    ``.state/<name>/operators/``. A process already running is left alone.
    Returns the log file of each.
    """
    paths = Paths(env.name)
    directory = operators_dir(paths)
    directory.mkdir(parents=True, exist_ok=True)
    python = str(ROOT / ".venv" / "bin" / "python")
    logs: dict[str, Path] = {}
    for process in processes:
        pid_file, log = directory / f"{process}.pid", directory / f"{process}.log"
        logs[process] = log
        pid = read_pid(pid_file)
        if pid is not None and _is_running(pid, process):
            continue
        argv = [python, "-m", process_module(process)]
        if process == PROVISIONER:
            argv += ["--name", env.name]
        pid = spawn_detached(argv, log, operator_environment(env))
        pid_file.write_text(f"{pid}\n")
    return logs


def _is_running(pid: int, process: str) -> bool:
    return process_module(process) in cmdline(pid)


def stop_operators(paths: Paths) -> None:
    """Stop the operators and the provisioner that ``start_operators`` started."""
    for pid_file in sorted(operators_dir(paths).glob("*.pid")):
        pid = read_pid(pid_file)
        if pid is not None and _is_running(pid, pid_file.stem):
            stop_pid(pid, grace=20.0)
        pid_file.unlink(missing_ok=True)


def stop_real_node(paths: Paths) -> None:
    """Stop the real node (if any) and undo what it did to the machine."""
    node = hostnode.plan(paths.name)
    root = node_paths(paths)
    if not root.root.exists() and not hostnode.netns_path(node).exists():
        return
    env = None
    with contextlib.suppress(OSError, ValueError, KeyError):
        env = LocalEnv.from_json(paths.env_file.read_text())
    kubectl = env.kubectl if env is not None and api_ready(paths, env.kubeconfig) else None
    hostnode.stop(node, root, kubectl)


def down(name: str | None = None) -> list[int]:
    """Stop every process of the environment and remove its state.

    Returns the pids that had to be stopped after kwokctl (normally none).
    """
    paths = Paths(name or env_name())
    with locked(paths):
        stop_operators(paths)
        _stop_vault(paths)
        stop_real_node(paths)
        if paths.cluster_dir.exists() and (BIN / "kwokctl").exists():
            kwokctl(paths, "delete", "cluster", check=False)
        strays = leftover_pids(paths)
        for pid in strays:
            stop_pid(pid)
        shutil.rmtree(paths.state, ignore_errors=True)
    paths.lock.unlink(missing_ok=True)
    return strays


# --- command line ---------------------------------------------------------------


def describe(env: LocalEnv) -> str:
    return (
        f"g8s local environment {env.name!r} is up\n"
        f"  kubeconfig:  {env.kubeconfig}\n"
        f"  VAULT_ADDR:  {env.vault_addr}\n"
        f"  VAULT_TOKEN: {env.vault_token}\n"
        f"  hosts:       {describe_hosts(env)}\n"
        "use it with:\n"
        f"  export KUBECONFIG={env.kubeconfig} VAULT_ADDR={env.vault_addr} "
        f"VAULT_TOKEN={env.vault_token}"
    )


def describe_hosts(env: LocalEnv) -> str:
    simulated = f"{HOST_NODES} simulated (kwok)"
    if env.real_node:
        return f"real node {hostnode.plan(env.name).node_name} (containerd, kubelet) + {simulated}"
    return f"{simulated} only: {env.fallback_reason}"


def main(argv: Sequence[str] | None = None) -> int:  # noqa: PLR0911 - a return per command
    parser = argparse.ArgumentParser(
        prog="python -m tests.localenv", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "command",
        choices=["up", "down", "status", "env", "operators", "provisioner", "stop", "hosts"],
    )
    parser.add_argument(
        "--name",
        default=None,
        help=f"environment name (default: ${NAME_VARIABLE} or {DEFAULT_NAME})",
    )
    args = parser.parse_args(argv)
    name = args.name or env_name()

    if args.command == "up":
        start = time.monotonic()
        try:
            env = up(name)
        except LocalEnvError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(describe(env))
        print(f"({time.monotonic() - start:.1f}s)")
        return 0
    if args.command == "stop":
        stop_operators(Paths(name))
        print(f"operators and volume provisioner of {name!r} stopped")
        return 0
    if args.command == "down":
        strays = down(name)
        if strays:
            print(f"stopped {len(strays)} process(es) kwokctl left: {strays}")
        print(f"g8s local environment {name!r} is down")
        return 0
    env_or_none = status(name)
    if env_or_none is None:
        print(f"g8s local environment {name!r} is not up", file=sys.stderr)
        return 1
    if args.command == "hosts":
        print(env_or_none.hosts)
        return 0
    if args.command in ("operators", "provisioner"):
        only = (PROVISIONER,) if args.command == "provisioner" else (*OPERATORS, PROVISIONER)
        for process, log in start_operators(env_or_none, only).items():
            print(f"{process}: log {log}")
        return 0
    if args.command == "env":
        for key in ("KUBECONFIG", "VAULT_ADDR", "VAULT_TOKEN"):
            print(f"export {key}={env_or_none.env()[key]}")
        return 0
    print(describe(env_or_none))
    return 0


if __name__ == "__main__":
    sys.exit(main())
