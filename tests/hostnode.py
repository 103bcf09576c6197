"""The local environment's real host node: containerd, kubelet and kube-proxy.

Beside kwok's simulated hosts, ``make up`` runs one real node, ``<env>-host-0``,
whose pods really run (Debian's containerd and runc, the CNI plugins, a kubelet
and kube-proxy built from the same Kubernetes modules as the control plane).

Everything of the node lives in a network namespace of its own,
``g8s-<env>``, joined to the machine by one veth pair: the node's bridge, the
pods' veths and kube-proxy's iptables chains exist only in there, so two
environments never share a chain, and removing the namespace removes them
all. The control plane listens on the host end of the veth, so the node's
processes, the pods (through the ``kubernetes`` Service) and the machine all
reach it. Addresses, all inside the reserved test range 198.18.0.0/15, are
derived from the environment's name (see ``NodePlan``).

Processes run with ``nsenter --net``, not ``ip netns exec``: the latter also
gives each process a mount namespace of its own, and the kubelet's volume
mounts must be seen by containerd.

``stop`` undoes everything the node did to the machine: it drains the node
(so every pod sandbox is torn down through the runtime), stops the processes,
unmounts what is left under the node's directories, deletes the namespace,
the cgroups, the directories the kubelet creates outside its root, and puts
back the sysctls the kubelet changes. ``snapshot`` records what a test
compares before ``up`` and after ``down``.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import time
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID

from shared.api import labels
from tests.processes import alive, cmdline, read_pid, stop_pid, tail

# The node blocks: 198.18.<index>.0/24 per environment (veth /30 and the pods'
# /25); Services: 198.19.<index>.0/24. 198.19.128.0/17 is left for the guest
# networks (the network operator's pool in this environment).
NODE_RANGE = ipaddress.IPv4Network("198.18.0.0/16")
SERVICE_RANGE = ipaddress.IPv4Network("198.19.0.0/17")
GUEST_RANGE = ipaddress.IPv4Network("198.19.128.0/17")
GUEST_PREFIX = 24
FIRST_INDEX, INDEXES = 16, 100

# The benchmark's environment builds hundreds of clusters: two Service
# addresses and a guest subnet each, and a simulated host per eight. A /24 of
# each is too little, so that one environment (one at a time on a machine)
# takes ranges the indexed blocks leave free: the first sixteen /24s of the
# node and Service ranges (indexes start at 16) and 198.18.128.0/17 (they end
# at 115). Guest subnets are /27 (a control plane and 25 workers each, as
# operators/kvm/policies.py lays out a subnet under 64 addresses), so 1,024
# of them fit.
WIDE_ENV = "g8s-bench"
WIDE_SERVICES = ipaddress.IPv4Network("198.19.0.0/20")
WIDE_SIMULATED_NODES = ipaddress.IPv4Network("198.18.0.0/21")
WIDE_SIMULATED_PODS = ipaddress.IPv4Network("198.18.8.0/21")
WIDE_GUESTS = ipaddress.IPv4Network("198.18.128.0/17")
WIDE_GUEST_PREFIX = 27

# What marks the node: only g8s workloads tolerate the taint and select the label.
HOST_LABEL = labels.HOST
HOST_LABEL_VALUE = labels.HOST_REAL
HOST_TAINT = "g8s.io/real-host"

# Sysctls the kubelet (and kube-proxy) may change on the machine, restored by stop.
GLOBAL_SYSCTLS = ("vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops")

# Directories the kubelet and containerd create outside the node's own folder.
OUTSIDE_DIRS = (
    "/var/lib/kubelet",
    "/var/log/containers",
    "/var/log/pods",
    "/var/lib/cni",
    "/run/containerd",
    "/etc/cni",
    "/opt/cni",
)

# The node's processes, in start order.
PROCESSES = ("containerd", "coredns", "kubelet", "kube-proxy")

CGROUP_ROOT = Path("/sys/fs/cgroup")
CNI_BIN = Path("/usr/lib/cni")
KUBELET_PORT = 10250


class NodeError(RuntimeError):
    """The real node could not be started."""


def subnet(within: ipaddress.IPv4Network, offset: int, prefix: int) -> ipaddress.IPv4Network:
    """The /``prefix`` network ``offset`` addresses into ``within``."""
    return ipaddress.IPv4Network((int(within.network_address) + offset, prefix))


@dataclass(frozen=True)
class NodePlan:
    """Names and addresses of one environment's node: pure, from the env name."""

    env: str
    index: int
    wide: bool = False

    @property
    def node_name(self) -> str:
        return f"{self.env}-host-0"

    @property
    def netns(self) -> str:
        return f"g8s-{self.env}"

    @property
    def host_link(self) -> str:
        # Interface names have 15 characters at most.
        return f"g8s{self.index}h"

    @property
    def block(self) -> ipaddress.IPv4Network:
        return subnet(NODE_RANGE, self.index << 8, 24)

    @property
    def host_ip(self) -> str:
        """The machine's end of the veth: the control plane listens here."""
        return str(self.block[1])

    @property
    def node_ip(self) -> str:
        """The node's end of the veth, inside its namespace."""
        return str(self.block[2])

    @property
    def link_cidr(self) -> str:
        return f"{self.block.network_address}/30"

    @property
    def pod_cidr(self) -> ipaddress.IPv4Network:
        return subnet(self.block, 128, 25)

    @property
    def pod_gateway(self) -> str:
        return str(self.pod_cidr[1])

    @property
    def simulated_node_ip(self) -> str:
        """The first simulated (kwok) host's address; kwok counts up from it."""
        return str(WIDE_SIMULATED_NODES[1] if self.wide else self.block[16])

    @property
    def simulated_pod_cidr(self) -> ipaddress.IPv4Network:
        """The first simulated host's pod range (/28); kwok steps it per host."""
        return subnet(WIDE_SIMULATED_PODS if self.wide else self.block, 0 if self.wide else 64, 28)

    @property
    def simulated_hosts(self) -> int:
        """How many simulated hosts the plan has addresses for."""
        if self.wide:
            return WIDE_SIMULATED_PODS.num_addresses // 16
        return 4  # .16 to .63 for their addresses, .64 to .127 for four /28s of pods

    @property
    def service_cidr(self) -> ipaddress.IPv4Network:
        return WIDE_SERVICES if self.wide else subnet(SERVICE_RANGE, self.index << 8, 24)

    @property
    def guest_pool(self) -> ipaddress.IPv4Network:
        """Where the network operator allocates the guest clusters' subnets."""
        return WIDE_GUESTS if self.wide else GUEST_RANGE

    @property
    def guest_prefix(self) -> int:
        return WIDE_GUEST_PREFIX if self.wide else GUEST_PREFIX

    @property
    def clusters(self) -> int:
        """How many guest clusters the plan has addresses for: a guest subnet and
        two Service addresses (API server, etcd) each, a few Services kept aside."""
        subnets = self.guest_pool.num_addresses >> (32 - self.guest_prefix)
        return min(subnets, (self.service_cidr.num_addresses - 2 - 16) // 2)

    @property
    def api_service_ip(self) -> str:
        """The ``kubernetes`` Service's address: the first of the range."""
        return str(self.service_cidr[1])

    @property
    def cgroup_parent(self) -> str:
        return f"/g8s-{self.env}"


def plan(env: str) -> NodePlan:
    """The node plan of environment ``env``; a stable index from its name."""
    index = FIRST_INDEX + zlib.crc32(env.encode()) % INDEXES
    return NodePlan(env=env, index=index, wide=env == WIDE_ENV)


# --- whether a real node can run here ---------------------------------------------------


def unsupported_reason() -> str:
    """Why a real node cannot run on this machine, or "" when it can."""
    if os.geteuid() != 0:
        return "not root (containerd, runc and network namespaces need root)"
    for tool in ("containerd", "runc", "ctr", "nsenter", "iptables"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (make system-packages installs it)"
    if not (CNI_BIN / "bridge").exists():
        return f"the CNI plugins are not in {CNI_BIN} (Debian's containernetworking-plugins)"
    for controller in ("memory", "cpu", "pids"):
        if not (CGROUP_ROOT / controller).is_dir():
            return f"no cgroup v1 {controller} controller at {CGROUP_ROOT / controller}"
    return ""


# --- files ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodePaths:
    """Where one environment's node keeps its files."""

    root: Path  # .state/<env>/node
    env: str

    @property
    def run(self) -> Path:
        # Unix sockets have a 108-byte limit that a deep checkout could exceed.
        return Path("/run/g8s") / self.env

    @property
    def containerd_socket(self) -> Path:
        return self.run / "containerd.sock"

    @property
    def containerd_config(self) -> Path:
        return self.root / "containerd.toml"

    @property
    def cni_conf(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def saved(self) -> Path:
        """What the machine looked like before the node: sysctls, outside dirs."""
        return self.root / "saved.json"

    def pid_file(self, process: str) -> Path:
        return self.root / f"{process}.pid"

    def log(self, process: str) -> Path:
        return self.logs / f"{process}.log"


def containerd_config(paths: NodePaths, pause_image: str) -> str:
    """containerd's configuration: its own root, state and sockets, CRI on our CNI."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""\
version = 2
root = "{paths.root / "containerd" / "root"}"
state = "{paths.run / "state"}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{paths.containerd_socket}"

[ttrpc]
  address = "{paths.run / "containerd.ttrpc.sock"}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{paths.root / "containerd" / "opt"}"

[{cri}]
  sandbox_image = "{pause_image}"
  # runc cannot raise oom_score_adj here (no CAP_SYS_RESOURCE in this sandbox).
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false

[{cri}.cni]
  bin_dir = "{CNI_BIN}"
  conf_dir = "{paths.cni_conf}"
"""


def cni_config(node: NodePlan, paths: NodePaths) -> dict[str, object]:
    """A bridge network for the pods, with routes only inside the test range.

    No default route and no masquerading: a pod reaches the control plane,
    Services, other pods and the guest networks, and nothing outside.
    """
    return {
        "cniVersion": "0.4.0",
        "name": "g8s-host",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "g8s0",
                "isGateway": True,
                "isDefaultGateway": False,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(paths.root / "cni" / "ipam"),
                    "ranges": [[{"subnet": str(node.pod_cidr), "gateway": node.pod_gateway}]],
                    "routes": [{"dst": "198.18.0.0/15"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": False},
        ],
    }


def kubelet_config(node: NodePlan, paths: NodePaths, ca: Path) -> dict[str, object]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": node.node_ip,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca)},
        },
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": node.cgroup_parent,
        "failCgroupV1": False,
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{paths.containerd_socket}",
        "podLogsDir": str(paths.root / "pod-logs"),
        "clusterDomain": "cluster.local",
        "clusterDNS": [node.host_ip],
        "registerWithTaints": [{"key": HOST_TAINT, "effect": "NoSchedule"}],
        "maxPods": 110,
        # A changed Secret reaches a pod's volume at the pod's next sync: with
        # the default minute, each certificate or key a guest's VM takes up
        # through its launcher pod (a renewal, each step of a rotation) waits
        # up to 90 s here. This node runs few pods, so syncing them more often
        # costs little.
        "syncFrequency": "10s",
        "serializeImagePulls": False,
        # The machine's disk is shared with everything else: evict only when
        # it is really full, never because of a busy build.
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "protectKernelDefaults": False,
        "makeIPTablesUtilChains": False,
        "localStorageCapacityIsolation": True,
        "resolvConf": "",
        "staticPodPath": "",
    }


def kube_proxy_config(node: NodePlan, kubeconfig: Path) -> dict[str, object]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "hostnameOverride": node.node_name,
        "bindAddress": node.node_ip,
        "clusterCIDR": str(node.pod_cidr),
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        # Leave the machine's conntrack sysctls alone.
        "conntrack": {"maxPerCore": 0, "min": 0},
        "iptables": {"localhostNodePorts": False, "masqueradeAll": False},
        "nodePortAddresses": [f"{node.node_ip}/32"],
    }


def kubeconfig(server: str, ca: Path, cert: Path, key: Path, user: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "local", "cluster": {"server": server, "certificate-authority": str(ca)}}
        ],
        "users": [
            {"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}
        ],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": user}}],
        "current-context": "local",
    }


# --- credentials --------------------------------------------------------------------------


def issue_client_cert(
    ca_cert: Path, ca_key: Path, common_name: str, groups: Sequence[str], out: Path
) -> tuple[Path, Path]:
    """A client certificate signed by the control plane's CA: ``out``.crt/.key."""
    with warnings.catch_warnings():
        # kwokctl's CA carries a serial number that is not positive; loading
        # it is still supported (with a deprecation warning).
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        ca = x509.load_pem_x509_certificate(ca_cert.read_bytes())
    signer = serialization.load_pem_private_key(ca_key.read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
        + [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(signer, hashes.SHA256())  # type: ignore[arg-type]
    )
    crt_path, key_path = out.with_suffix(".crt"), out.with_suffix(".key")
    out.parent.mkdir(parents=True, exist_ok=True)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    crt_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return crt_path, key_path


# --- the machine, before and after --------------------------------------------------------


def _sh(*cmd: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        list(cmd),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        raise NodeError(f"`{' '.join(cmd)}` exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


def read_sysctl(name: str) -> str:
    return Path("/proc/sys", name).read_text().strip()


@dataclass(frozen=True)
class Snapshot:
    """What the node could leave behind on the machine, as comparable sets."""

    mounts: frozenset[str]
    links: frozenset[str]
    netns: frozenset[str]
    chains: frozenset[str]
    sysctls: tuple[tuple[str, str], ...]
    cgroups: frozenset[str]
    dirs: frozenset[str]

    def differences(self, after: Snapshot) -> dict[str, object]:
        """What ``after`` has that this snapshot does not, and what it lost."""
        diff: dict[str, object] = {}
        for field in ("mounts", "links", "netns", "chains", "cgroups", "dirs"):
            before_set, after_set = getattr(self, field), getattr(after, field)
            if before_set != after_set:
                diff[field] = {
                    "added": sorted(after_set - before_set),
                    "removed": sorted(before_set - after_set),
                }
        if self.sysctls != after.sysctls:
            diff["sysctls"] = {"before": dict(self.sysctls), "after": dict(after.sysctls)}
        return diff


def snapshot() -> Snapshot:
    """Mount points, links, namespaces, iptables chains, sysctls, cgroups, outside dirs."""
    mounts = frozenset(
        line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
    )
    links = frozenset(
        line.split(":")[1].strip().split("@")[0]
        for line in _sh("ip", "-o", "link", "show").stdout.splitlines()
    )
    netns_dir = Path("/run/netns")
    netns = frozenset(p.name for p in netns_dir.iterdir()) if netns_dir.is_dir() else frozenset()
    chains: set[str] = set()
    if shutil.which("iptables-save"):
        table = ""
        for line in _sh("iptables-save").stdout.splitlines():
            if line.startswith("*"):
                table = line[1:]
            elif line.startswith(":"):
                chains.add(f"{table}/{line[1:].split()[0]}")
    sysctls = tuple((name, read_sysctl(name)) for name in GLOBAL_SYSCTLS)
    cgroups = frozenset(
        f"{c.name}/{d.name}"
        for c in CGROUP_ROOT.iterdir()
        if c.is_dir()
        for d in c.iterdir()
        if d.is_dir()
    )
    dirs = frozenset(d for d in OUTSIDE_DIRS if Path(d).exists())
    return Snapshot(mounts, links, netns, frozenset(chains), sysctls, cgroups, dirs)


def _save_machine(paths: NodePaths) -> None:
    """Record, once, what stop must put back: sysctls and which outside dirs existed."""
    if paths.saved.exists():
        return
    state = {
        "sysctls": {name: read_sysctl(name) for name in GLOBAL_SYSCTLS},
        "dirs": [d for d in OUTSIDE_DIRS if Path(d).exists()],
    }
    paths.saved.write_text(json.dumps(state, indent=2) + "\n")


# --- start ----------------------------------------------------------------------------------


Spawn = Callable[[Sequence[str], Path], int]
Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def netns_path(node: NodePlan) -> Path:
    return Path("/run/netns") / node.netns


def in_netns(node: NodePlan, argv: Sequence[str]) -> list[str]:
    """``argv`` run in the node's network namespace only (same mount namespace)."""
    return [shutil.which("nsenter") or "/usr/bin/nsenter", f"--net={netns_path(node)}", "--", *argv]


def ensure_network(node: NodePlan) -> None:
    """The node's namespace and the veth pair joining it to the machine.

    Idempotent. The machine routes the pods' and Services' ranges of this node
    through the veth, so tests and operators on the machine reach both; the
    namespace forwards (its own sysctl, not the machine's) but has no default
    route, so nothing it carries leaves the machine.
    """
    if not netns_path(node).exists():
        _sh("ip", "netns", "add", node.netns)
    if _sh("ip", "link", "show", node.host_link, check=False).returncode != 0:
        _sh(
            "ip",
            "link",
            "add",
            node.host_link,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            node.netns,
        )
    _sh("ip", "addr", "replace", f"{node.host_ip}/30", "dev", node.host_link)
    _sh("ip", "link", "set", node.host_link, "up")
    _sh("ip", "-n", node.netns, "addr", "replace", f"{node.node_ip}/30", "dev", "eth0")
    _sh("ip", "-n", node.netns, "link", "set", "lo", "up")
    _sh("ip", "-n", node.netns, "link", "set", "eth0", "up")
    for cidr in (node.pod_cidr, node.service_cidr):
        _sh("ip", "route", "replace", str(cidr), "via", node.node_ip, "dev", node.host_link)
    # The node's own processes (kubelet, host-network pods such as the network
    # agent) need a route for Service addresses, which kube-proxy rewrites
    # after the route is chosen; the test range only, never a default route.
    _sh(
        "ip",
        "-n",
        node.netns,
        "route",
        "replace",
        "198.18.0.0/15",
        "via",
        node.host_ip,
        "dev",
        "eth0",
    )
    _sh(*in_netns(node, ["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"]))


def ensure_cgroups(node: NodePlan) -> None:
    """The kubelet's cgroup root, in every v1 hierarchy, with the machine's cpusets."""
    for hierarchy in CGROUP_ROOT.iterdir():
        if not hierarchy.is_dir() or hierarchy.name == "unified":
            continue
        path = hierarchy / node.cgroup_parent.lstrip("/")
        path.mkdir(exist_ok=True)
        if hierarchy.name == "cpuset":
            for name in ("cpuset.cpus", "cpuset.mems"):
                if not (path / name).read_text().strip():
                    (path / name).write_text((hierarchy / name).read_text())


def _wait(what: str, ready: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise NodeError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)


def ctr(
    paths: NodePaths, *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return _sh(
        "ctr",
        f"--address={paths.containerd_socket}",
        "--namespace=k8s.io",
        *args,
        check=check,
        timeout=timeout,
    )


def start_containerd(node: NodePlan, paths: NodePaths, pause_image: str, spawn: Spawn) -> None:
    paths.run.mkdir(parents=True, exist_ok=True)
    paths.cni_conf.mkdir(parents=True, exist_ok=True)
    paths.containerd_config.write_text(containerd_config(paths, pause_image))
    (paths.cni_conf / "10-g8s.conflist").write_text(json.dumps(cni_config(node, paths), indent=2))
    pid = spawn(
        in_netns(node, ["containerd", f"--config={paths.containerd_config}"]),
        paths.log("containerd"),
    )
    paths.pid_file("containerd").write_text(f"{pid}\n")
    _wait("containerd", lambda: ctr(paths, "version", check=False, timeout=10).returncode == 0, 60)


def import_images(paths: NodePaths, archives: Sequence[Path]) -> None:
    """Import OCI archives into the node's containerd (an unchanged image is a no-op there)."""
    for archive in archives:
        ctr(paths, "images", "import", "--no-unpack=false", str(archive), timeout=300)


def write_credentials(
    node: NodePlan, paths: NodePaths, ca_cert: Path, ca_key: Path, server: str
) -> dict[str, Path]:
    """The node's own identities: kubelet as system:node:<name>, kube-proxy as system:kube-proxy."""
    kubeconfigs: dict[str, Path] = {}
    identities = {
        "kubelet": (f"system:node:{node.node_name}", ["system:nodes"]),
        "kube-proxy": ("system:kube-proxy", []),
        "coredns": (DNS_USER, []),
    }
    for process, (user, groups) in identities.items():
        cert, key = issue_client_cert(ca_cert, ca_key, user, groups, paths.pki / process)
        path = paths.root / f"{process}.kubeconfig"
        path.write_text(json.dumps(kubeconfig(server, ca_cert, cert, key, user), indent=2))
        kubeconfigs[process] = path
    return kubeconfigs


DNS_USER = "g8s:coredns"


def dns_rbac() -> str:
    """What the cluster DNS may read: Services, EndpointSlices, namespaces, pods."""
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "g8s:coredns"},
        "rules": [
            {
                "apiGroups": [""],
                "resources": ["services", "namespaces", "pods", "endpoints"],
                "verbs": ["list", "watch"],
            },
            {
                "apiGroups": ["discovery.k8s.io"],
                "resources": ["endpointslices"],
                "verbs": ["list", "watch"],
            },
        ],
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "g8s:coredns"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "g8s:coredns",
        },
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": DNS_USER}],
    }
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": [role, binding]})


def corefile(node: NodePlan, kubeconfig_path: Path) -> str:
    """Cluster names only: every other name is refused, none is forwarded off the machine."""
    return f"""\
cluster.local:53 in-addr.arpa:53 {{
    bind {node.host_ip}
    ready {node.host_ip}:8181
    health {node.host_ip}:8080
    errors
    cache 5
    kubernetes cluster.local in-addr.arpa {{
        kubeconfig {kubeconfig_path} local
        pods insecure
        ttl 5
    }}
}}
"""


def dns_ready(node: NodePlan) -> bool:
    try:
        with socket.create_connection((node.host_ip, 8181), timeout=2) as sock:
            sock.sendall(b"GET /ready HTTP/1.0\r\n\r\n")
            return b" 200 " in sock.recv(64)
    except OSError:
        return False


def start_dns(
    node: NodePlan, paths: NodePaths, kubeconfig_path: Path, spawn: Spawn, kubectl: Kubectl
) -> None:
    """CoreDNS on the host end of the veth: the node's pods use it (kubelet clusterDNS)."""
    kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=g8s-localenv",
        "-f",
        "-",
        input=dns_rbac(),
    )
    config = paths.root / "Corefile"
    config.write_text(corefile(node, kubeconfig_path))
    pid = spawn([str(_bin("coredns")), "-conf", str(config)], paths.log("coredns"))
    paths.pid_file("coredns").write_text(f"{pid}\n")
    _wait("the cluster DNS (CoreDNS)", lambda: dns_ready(node), 60)


def start(
    node: NodePlan,
    paths: NodePaths,
    *,
    ca_cert: Path,
    ca_key: Path,
    server: str,
    images: Sequence[Path],
    pause_image: str,
    spawn: Spawn,
    kubectl: Kubectl,
    timeout: float = 180,
) -> None:
    """Bring the node up (idempotent for what already runs) and wait until it is Ready."""
    paths.root.mkdir(parents=True, exist_ok=True)
    paths.logs.mkdir(parents=True, exist_ok=True)
    _save_machine(paths)
    ensure_network(node)
    ensure_cgroups(node)
    if not running(paths, "containerd"):
        start_containerd(node, paths, pause_image, spawn)
    import_images(paths, images)
    kubeconfigs = write_credentials(node, paths, ca_cert, ca_key, server)
    if not running(paths, "coredns"):
        start_dns(node, paths, kubeconfigs["coredns"], spawn, kubectl)
    if not running(paths, "kubelet"):
        config = paths.root / "kubelet.yaml"
        config.write_text(json.dumps(kubelet_config(node, paths, ca_cert), indent=2))
        argv = [
            str(_bin("kubelet")),
            f"--config={config}",
            f"--kubeconfig={kubeconfigs['kubelet']}",
            f"--root-dir={paths.kubelet_root}",
            f"--hostname-override={node.node_name}",
            f"--node-ip={node.node_ip}",
            f"--node-labels={HOST_LABEL}={HOST_LABEL_VALUE}",
            "--v=1",
        ]
        paths.pid_file("kubelet").write_text(
            f"{spawn(in_netns(node, argv), paths.log('kubelet'))}\n"
        )
    if not running(paths, "kube-proxy"):
        config = paths.root / "kube-proxy.yaml"
        config.write_text(json.dumps(kube_proxy_config(node, kubeconfigs["kube-proxy"]), indent=2))
        argv = [str(_bin("kube-proxy")), f"--config={config}", "--v=1"]
        paths.pid_file("kube-proxy").write_text(
            f"{spawn(in_netns(node, argv), paths.log('kube-proxy'))}\n"
        )
    try:
        # `kubectl wait` fails at once on a Node not registered yet.
        _wait(
            f"node {node.node_name} to register",
            lambda: kubectl("get", "node", node.node_name, check=False).returncode == 0,
            timeout,
        )
        kubectl(
            "wait",
            "--for=condition=Ready",
            f"node/{node.node_name}",
            f"--timeout={int(timeout)}s",
            timeout=timeout + 30,
        )
    except (subprocess.CalledProcessError, NodeError) as exc:
        raise NodeError(
            f"node {node.node_name} did not become Ready: {exc}\n"
            f"kubelet log ({paths.log('kubelet')}):\n{tail(paths.log('kubelet'))}"
        ) from exc


BIN = Path(__file__).resolve().parent.parent / ".tools" / "bin"


def _bin(name: str) -> Path:
    return BIN / name


def _pid(paths: NodePaths, process: str) -> int | None:
    return read_pid(paths.pid_file(process))


def running(paths: NodePaths, process: str) -> bool:
    """True when the pid file names a live ``process`` of this node (not a reused pid)."""
    pid = _pid(paths, process)
    if pid is None:
        return False
    args = cmdline(pid)
    if not args or Path(args[0]).name != process:
        return False
    return alive(pid) and any(str(paths.root) in a or str(paths.run) in a for a in args)


# --- stop -----------------------------------------------------------------------------------


def _stop_process(paths: NodePaths, process: str, grace: float = 15) -> None:
    pid = _pid(paths, process)
    if pid is not None and running(paths, process):
        stop_pid(pid, grace)
    paths.pid_file(process).unlink(missing_ok=True)


def drain(node: NodePlan, paths: NodePaths, kubectl: Kubectl, timeout: float = 90) -> None:
    """Delete every pod of the node through the API and wait until the runtime ran none.

    The kubelet then stops each sandbox through the runtime, which tears down
    its network (CNI DEL) and removes its namespace mount: the clean way out.
    """
    kubectl("cordon", node.node_name, check=False)
    kubectl(
        "delete",
        "pods",
        "--all-namespaces",
        f"--field-selector=spec.nodeName={node.node_name}",
        "--wait=false",
        "--grace-period=5",
        check=False,
    )

    def idle() -> bool:
        proc = ctr(paths, "tasks", "ls", "-q", check=False, timeout=10)
        return proc.returncode == 0 and not proc.stdout.strip()

    with contextlib.suppress(NodeError):
        _wait("the node's containers to stop", idle, timeout)


def _sandbox_netns(paths: NodePaths) -> list[str]:
    """The network namespace files of every container containerd still knows."""
    found: list[str] = []
    listing = ctr(paths, "containers", "ls", "-q", check=False, timeout=10)
    for cid in listing.stdout.split():
        info = ctr(paths, "containers", "info", cid, check=False, timeout=10)
        with contextlib.suppress(ValueError, KeyError, TypeError):
            spec = json.loads(info.stdout)["Spec"]
            for ns in spec["linux"]["namespaces"]:
                if ns.get("type") == "network" and ns.get("path", "").startswith("/var/run/netns/"):
                    found.append(ns["path"])
    return found


def _force_remove_containers(paths: NodePaths) -> list[str]:
    """Kill and delete what the drain left; return the namespace files to unmount."""
    netns_files = _sandbox_netns(paths)
    for task in ctr(paths, "tasks", "ls", "-q", check=False, timeout=10).stdout.split():
        ctr(paths, "tasks", "kill", "--signal=SIGKILL", task, check=False, timeout=10)
        ctr(paths, "tasks", "delete", "--force", task, check=False, timeout=30)
    for cid in ctr(paths, "containers", "ls", "-q", check=False, timeout=10).stdout.split():
        ctr(paths, "containers", "delete", cid, check=False, timeout=30)
    return netns_files


def _shims(paths: NodePaths) -> list[int]:
    """containerd shims of this node's containerd (they outlive it by design)."""
    marker = str(paths.containerd_socket)
    return [
        int(p.name)
        for p in Path("/proc").iterdir()
        if p.name.isdigit()
        and marker in cmdline(int(p.name))
        and "shim" in " ".join(cmdline(int(p.name))[:1])
    ]


def mounts_under(prefixes: Sequence[Path | str]) -> list[str]:
    """Mount points at or below any of ``prefixes``, deepest first."""
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    keep = [
        p
        for p in points
        if any(p == str(pre) or p.startswith(str(pre).rstrip("/") + "/") for pre in prefixes)
    ]
    return sorted(set(keep), key=lambda p: (p.count("/"), p), reverse=True)


def unmount_all(prefixes: Sequence[Path | str]) -> None:
    for _ in range(3):  # a mount may be stacked several times over
        points = mounts_under(prefixes)
        if not points:
            return
        for point in points:
            if _sh("umount", point, check=False).returncode != 0:
                _sh("umount", "-l", point, check=False)


def _remove_cgroups(node: NodePlan) -> None:
    for hierarchy in CGROUP_ROOT.iterdir():
        top = hierarchy / node.cgroup_parent.lstrip("/")
        if not top.is_dir():
            continue
        # Deepest first: a cgroup is removed with rmdir once it has no children.
        for path in sorted(
            (p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True
        ):
            with contextlib.suppress(OSError):
                path.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()


def _restore_machine(paths: NodePaths) -> None:
    try:
        saved = json.loads(paths.saved.read_text())
    except (OSError, ValueError):
        return
    for name, value in saved.get("sysctls", {}).items():
        with contextlib.suppress(OSError):
            if read_sysctl(name) != value:
                Path("/proc/sys", name).write_text(value)
    existed = set(saved.get("dirs", []))
    for directory in OUTSIDE_DIRS:
        if directory not in existed and Path(directory).exists():
            unmount_all([directory])
            shutil.rmtree(directory, ignore_errors=True)


def stop(node: NodePlan, paths: NodePaths, kubectl: Kubectl | None) -> None:
    """Stop the node and undo everything it did to the machine (see the module docstring)."""
    containerd_up = running(paths, "containerd")
    if kubectl is not None and running(paths, "kubelet") and containerd_up:
        drain(node, paths, kubectl)
    _stop_process(paths, "kube-proxy")
    _stop_process(paths, "kubelet")
    _stop_process(paths, "coredns")
    netns_files: list[str] = []
    if containerd_up:
        netns_files = _force_remove_containers(paths)
    _stop_process(paths, "containerd")
    for shim in _shims(paths):
        stop_pid(shim, 5)
    if kubectl is not None:
        kubectl("delete", "node", node.node_name, "--wait=false", "--ignore-not-found", check=False)
        kubectl(
            "delete",
            "lease",
            "-n",
            "kube-node-lease",
            node.node_name,
            "--ignore-not-found",
            check=False,
        )
    unmount_all([paths.root, paths.run, *netns_files])
    for ns_file in netns_files:
        with contextlib.suppress(OSError):
            Path(ns_file).unlink()
    if netns_path(node).exists():
        _sh("ip", "netns", "delete", node.netns, check=False)
    _remove_cgroups(node)
    _restore_machine(paths)
    shutil.rmtree(paths.run, ignore_errors=True)
    with contextlib.suppress(OSError):
        paths.run.parent.rmdir()  # /run/g8s, when no other environment uses it
