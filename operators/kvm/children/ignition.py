"""The Ignition (spec v3.4.0) config of one node: a pure function of its inputs.

Everything the VM needs at first boot: hostname, a static address on the
guest cluster's bridge with routes to the other nodes' pod subnets, an
``/etc/hosts`` naming the API server and etcd (the guest resolves no host
cluster name through DNS), a CNI configuration, the kubelet and its
configuration; control-plane nodes also get static pods for the API server
(encryption at rest from ``<c>-encryption``), controller manager and
scheduler wired to the cluster's etcd Service.
Manifests and configs are JSON documents (JSON is YAML), never templated text.

The node's certificates, keys and encryption config are not in the config:
they are its *live files* (``live_files``), which the launcher shares with
the running VM over 9p. The guest mounts the share at ``PKI_SHARE``, and
``pki-sync.sh`` copies it to ``PKI``: the kubelet's ``ExecStartPre`` before it
starts, the ``g8s-pki-sync`` service whenever the share changes. A renewed certificate or a new
key list then reaches the running components (which reload their files)
without a reboot, and the config, whose hash rolls the VM, stays the same.
"""

import json
from base64 import b64encode
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from operators.kvm.launcher.command import PKI_MOUNT_TAG
from operators.kvm.model import KVMNodeSpec
from shared.api import carotation, encryption, serviceaccount
from shared.api import certificates as certs

IGNITION_VERSION = "3.4.0"
PKI = "/etc/kubernetes/pki"
MANIFESTS = "/etc/kubernetes/manifests"
KUBELET_CONFIG = "/etc/kubernetes/kubelet.yaml"
KUBELET_KUBECONFIG = "/etc/kubernetes/kubelet.kubeconfig"
# Where a downloaded kubelet goes; an image that has its own keeps it in /usr/local/bin.
KUBELET_DOWNLOAD = "/opt/bin/kubelet"
KUBELET_IN_IMAGE = "/usr/local/bin/kubelet"
CA_FILE = f"{PKI}/ca.crt"
ENCRYPTION_CONFIG = f"{PKI}/encryption/config.json"
# The launcher's 9p share of the live files in the guest, its mount unit, and
# the service that copies it to PKI.
PKI_SHARE = "/run/g8s/pki"
PKI_MOUNT_UNIT = "run-g8s-pki.mount"
PKI_SYNC_UNIT = "g8s-pki-sync.service"
PKI_SYNC_SCRIPT = "/usr/local/lib/g8s/pki-sync"
CNI_CONFIG = "/etc/cni/net.d/10-g8s.conflist"
CNI_BRIDGE = "cni0"
# The Secret data of the node's own kubelet certificate goes under this component.
KUBELET = "kubelet"

CONTROLPLANE_COMPONENTS = (
    certs.API,
    certs.APISERVER_ETCD_CLIENT,
    certs.APISERVER_KUBELET_CLIENT,
    certs.FRONT_PROXY_CLIENT,
    certs.CONTROLLER_MANAGER,
    certs.SCHEDULER,
    certs.SERVICE_ACCOUNT,
)

MODE_PUBLIC = 0o644
MODE_PRIVATE = 0o600
PRIVATE_KEYS = frozenset({certs.PRIVATE_KEY})
# Kept from the guest: the key that signs service-account tokens next, while a
# rotation is under way (shared/api/serviceaccount.py). No guest process reads
# it before it becomes tls.key, and a live file that comes and goes would
# change the launcher pod's Secret volume, and so restart the VM.
HELD_BACK = frozenset({serviceaccount.NEXT_KEY})


@dataclass(frozen=True)
class NodeNetwork:
    address: str
    prefix_length: int
    gateway: str
    mac: str
    dns: str
    # This node's pod subnet, and (pod subnet, node address) of every other
    # possible node of the cluster: static routes, so a new node needs no
    # change on the others.
    pod_subnet: str = ""
    peer_routes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Images:
    registry: str
    # Empty: the guest image has its own kubelet of the node's version.
    kubelet_url: str = ""


@dataclass(frozen=True)
class NodeInputs:
    """What the config is built from, besides the spec."""

    network: NodeNetwork
    api_endpoint: str
    etcd_endpoint: str
    # component -> Secret data (key -> base64 value), ``ca.crt`` excluded;
    # KUBELET holds the node's own certificate.
    certificates: Mapping[str, Mapping[str, str]]
    ca_b64: str
    images: Images
    # name -> address lines of /etc/hosts (the API server's and etcd's names).
    hosts: Mapping[str, str] = field(default_factory=dict)
    # The API server's encryption keys, the write key first; control plane only.
    encryption_keys: tuple[encryption.Key, ...] = ()


@dataclass(frozen=True)
class LiveFile:
    """A file of the node's share: its path under ``PKI``, content (base64) and mode."""

    path: str
    content_b64: str
    mode: int


def components(spec: KVMNodeSpec) -> tuple[str, ...]:
    """The cluster-wide certificates a node needs besides its own kubelet identity."""
    return CONTROLPLANE_COMPONENTS if spec.is_controlplane else ()


def cert_path(component: str, key: str) -> str:
    return f"{PKI}/{component}/{key}"


def _data_url_b64(b64: str) -> str:
    return f"data:;base64,{b64}"


def _text(path: str, content: str, mode: int = MODE_PUBLIC) -> dict[str, Any]:

    return {
        "path": path,
        "mode": mode,
        "overwrite": True,
        "contents": {"source": _data_url_b64(b64encode(content.encode()).decode())},
    }


def _json(path: str, document: Mapping[str, Any], mode: int = MODE_PUBLIC) -> dict[str, Any]:
    return _text(path, json.dumps(document, indent=2, sort_keys=True) + "\n", mode)


def _network_unit(net: NodeNetwork) -> str:
    lines = [
        "[Match]",
        f"MACAddress={net.mac}",
        "",
        "[Network]",
        f"Address={net.address}/{net.prefix_length}",
        f"Gateway={net.gateway}",
        f"DNS={net.dns}",
    ]
    for subnet, via in net.peer_routes:
        lines += ["", "[Route]", f"Destination={subnet}", f"Gateway={via}"]
    return "\n".join(lines) + "\n"


def hosts_file(spec: KVMNodeSpec, inputs: NodeInputs) -> str:
    lines = ["127.0.0.1 localhost", f"{inputs.network.address} {spec.name}"]
    lines += [f"{address} {name}" for name, address in sorted(inputs.hosts.items())]
    return "\n".join(lines) + "\n"


def cni_config(pod_subnet: str) -> dict[str, Any]:
    """A bridge per node; other nodes' pods are reached through the static routes."""
    return {
        "cniVersion": "1.0.0",
        "name": "g8s",
        "plugins": [
            {
                "type": "bridge",
                "bridge": CNI_BRIDGE,
                "isGateway": True,
                "hairpinMode": True,
                # Pod addresses are routed between nodes, never hidden behind them.
                "ipMasq": False,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": pod_subnet}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubeconfig(server: str, cert: str, key: str, user: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "guest", "cluster": {"server": server, "certificate-authority": CA_FILE}}
        ],
        "users": [{"name": user, "user": {"client-certificate": cert, "client-key": key}}],
        "contexts": [{"name": "default", "context": {"cluster": "guest", "user": user}}],
        "current-context": "default",
    }


def kubelet_config(spec: KVMNodeSpec) -> dict[str, Any]:
    dns = str(spec.service_cidr.network_address + 10)
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": CA_FILE},
        },
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "systemd",
        "containerRuntimeEndpoint": "unix:///run/containerd/containerd.sock",
        "clusterDNS": [dns],
        "clusterDomain": certs.DEFAULT_CLUSTER_DOMAIN,
        "resolvConf": "/etc/resolv.conf",
        "staticPodPath": MANIFESTS if spec.is_controlplane else "",
        "tlsCertFile": cert_path(KUBELET, "tls.crt"),
        "tlsPrivateKeyFile": cert_path(KUBELET, "tls.key"),
        "rotateCertificates": False,
        # The launcher powers the VM down through ACPI: pods get to stop first.
        "shutdownGracePeriod": "30s",
        "shutdownGracePeriodCriticalPods": "10s",
    }


def _enabled_unit(lines: Sequence[str]) -> str:
    """A unit file of these sections, started at boot (multi-user.target wants it)."""
    return "\n".join([*lines, "", "[Install]", "WantedBy=multi-user.target"]) + "\n"


def _kubelet_unit(spec: KVMNodeSpec, net: NodeNetwork, binary: str) -> str:
    args = [
        binary,
        f"--config={KUBELET_CONFIG}",
        f"--kubeconfig={KUBELET_KUBECONFIG}",
        f"--hostname-override={spec.name}",
        f"--node-ip={net.address}",
        f"--node-labels=node.g8s.io/role={spec.role}",
    ]
    if spec.is_controlplane:
        args.append("--register-with-taints=node-role.kubernetes.io/control-plane=:NoSchedule")
    lines = [
        "[Unit]",
        "Description=kubelet (g8s guest node)",
        "Wants=network-online.target",
        "Requires=containerd.service",
        "After=network-online.target containerd.service",
        # Its certificates and those of the static pods come from the share:
        # the first copy is made before it starts (the sync service keeps
        # them current after). A dependency on the mount only, not on a
        # service new to systemd at first boot, and a weak one: a mount that
        # failed (seen under load at first boot: "9pnet_virtio: no channels
        # available") would fail the kubelet for good, while pki-sync's first
        # pass mounts the share again until it is there.
        f"Wants={PKI_MOUNT_UNIT}",
        f"After={PKI_MOUNT_UNIT}",
        "",
        "[Service]",
        f"ExecStartPre={PKI_SYNC_SCRIPT} first",
        "ExecStart=" + " ".join(args),
        "Restart=always",
        "RestartSec=5",
    ]
    return _enabled_unit(lines)


def _volume(name: str, path: str, kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
    volume = {"name": name, "hostPath": {"path": path, "type": kind}}
    mount = {"name": name, "mountPath": path, "readOnly": True}
    return volume, mount


def static_pod(name: str, image: str, command: Sequence[str]) -> dict[str, Any]:
    volumes, mounts = zip(
        _volume("kubernetes", "/etc/kubernetes", "Directory"),
        # The node's name service order ("files dns"): the API server finds etcd
        # through the node's /etc/hosts, which a host-network pod shares.
        _volume("nsswitch", "/etc/nsswitch.conf", "File"),
        strict=True,
    )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "kube-system",
            "labels": {"component": name, "tier": "control-plane"},
            # pki-sync writes the digest of the CA bundle here: see pki-sync.sh.
            # Empty in the Ignition config, which must not change with the CA.
            "annotations": {carotation.STATIC_POD_TRUST_ANNOTATION: ""},
        },
        "spec": {
            "hostNetwork": True,
            "priorityClassName": "system-node-critical",
            "containers": [
                {
                    "name": name,
                    "image": image,
                    # Images come with the guest OS (or a registry that has them).
                    "imagePullPolicy": "IfNotPresent",
                    "command": list(command),
                    "volumeMounts": list(mounts),
                }
            ],
            "volumes": list(volumes),
        },
    }


def apiserver_pod(spec: KVMNodeSpec, inputs: NodeInputs) -> dict[str, Any]:
    p = cert_path
    command = [
        "kube-apiserver",
        f"--advertise-address={inputs.network.address}",
        "--secure-port=6443",
        f"--etcd-servers={inputs.etcd_endpoint}",
        f"--etcd-cafile={CA_FILE}",
        f"--etcd-certfile={p(certs.APISERVER_ETCD_CLIENT, 'tls.crt')}",
        f"--etcd-keyfile={p(certs.APISERVER_ETCD_CLIENT, 'tls.key')}",
        f"--client-ca-file={CA_FILE}",
        f"--tls-cert-file={p(certs.API, 'tls.crt')}",
        f"--tls-private-key-file={p(certs.API, 'tls.key')}",
        f"--kubelet-client-certificate={p(certs.APISERVER_KUBELET_CLIENT, 'tls.crt')}",
        f"--kubelet-client-key={p(certs.APISERVER_KUBELET_CLIENT, 'tls.key')}",
        f"--proxy-client-cert-file={p(certs.FRONT_PROXY_CLIENT, 'tls.crt')}",
        f"--proxy-client-key-file={p(certs.FRONT_PROXY_CLIENT, 'tls.key')}",
        f"--requestheader-client-ca-file={CA_FILE}",
        "--requestheader-allowed-names=",
        f"--service-account-key-file={p(certs.SERVICE_ACCOUNT, certs.PUBLIC_KEY)}",
        f"--service-account-signing-key-file={p(certs.SERVICE_ACCOUNT, certs.PRIVATE_KEY)}",
        f"--service-account-issuer={inputs.api_endpoint}",
        f"--service-cluster-ip-range={spec.service_cidr}",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        "--allow-privileged=true",
        # Node names are not in any DNS the guest has.
        "--kubelet-preferred-address-types=InternalIP",
    ]
    if inputs.encryption_keys:
        command += [
            f"--encryption-provider-config={ENCRYPTION_CONFIG}",
            # A new key list on the share is taken up without a restart.
            "--encryption-provider-config-automatic-reload=true",
        ]
    image = f"{inputs.images.registry}/kube-apiserver:v{spec.kubernetes_version}"
    return static_pod("kube-apiserver", image, command)


def _component_kubeconfig_path(component: str) -> str:
    return f"/etc/kubernetes/{component}.kubeconfig"


# kubeadm's lease timings (15 s lease, 10 s renew deadline, 2 s retry) are
# shorter than a guest under software emulation sometimes takes to answer a
# renewal; a missed deadline makes the controller-manager or scheduler exit,
# and while it restarts no Deployment rolls out. These make a lost leader's
# successor wait up to 60 s instead of 15 s.
LEADER_ELECTION = (
    "--leader-elect=true",
    "--leader-elect-lease-duration=60s",
    "--leader-elect-renew-deadline=45s",
    "--leader-elect-retry-period=10s",
)


def controller_manager_pod(spec: KVMNodeSpec, inputs: NodeInputs) -> dict[str, Any]:
    kubeconfig_path = _component_kubeconfig_path(certs.CONTROLLER_MANAGER)
    command = [
        "kube-controller-manager",
        f"--kubeconfig={kubeconfig_path}",
        f"--authentication-kubeconfig={kubeconfig_path}",
        f"--authorization-kubeconfig={kubeconfig_path}",
        f"--client-ca-file={CA_FILE}",
        f"--root-ca-file={CA_FILE}",
        f"--service-account-private-key-file={cert_path(certs.SERVICE_ACCOUNT, certs.PRIVATE_KEY)}",
        f"--service-cluster-ip-range={spec.service_cidr}",
        f"--cluster-cidr={spec.pod_cidr}",
        # Each node's pod subnet is fixed by its address (its CNI configuration).
        "--allocate-node-cidrs=false",
        "--use-service-account-credentials=true",
        *LEADER_ELECTION,
    ]
    image = f"{inputs.images.registry}/kube-controller-manager:v{spec.kubernetes_version}"
    return static_pod("kube-controller-manager", image, command)


def scheduler_pod(spec: KVMNodeSpec, inputs: NodeInputs) -> dict[str, Any]:
    kubeconfig_path = _component_kubeconfig_path(certs.SCHEDULER)
    command = [
        "kube-scheduler",
        f"--kubeconfig={kubeconfig_path}",
        f"--authentication-kubeconfig={kubeconfig_path}",
        f"--authorization-kubeconfig={kubeconfig_path}",
        *LEADER_ELECTION,
    ]
    image = f"{inputs.images.registry}/kube-scheduler:v{spec.kubernetes_version}"
    return static_pod("kube-scheduler", image, command)


def live_files(spec: KVMNodeSpec, inputs: NodeInputs) -> tuple[LiveFile, ...]:
    """What the node's share holds: the CA, its certificates and keys, the encryption config."""
    files = [LiveFile("ca.crt", inputs.ca_b64, MODE_PUBLIC)]
    for component in (*components(spec), KUBELET):
        for key, value in sorted(inputs.certificates[component].items()):
            if key == "ca.crt" or key in HELD_BACK:
                continue
            mode = MODE_PRIVATE if key in PRIVATE_KEYS else MODE_PUBLIC
            files.append(LiveFile(f"{component}/{key}", value, mode))
    if spec.is_controlplane and inputs.encryption_keys:
        document = encryption.document(inputs.encryption_keys)
        relative = ENCRYPTION_CONFIG.removeprefix(PKI + "/")
        files.append(LiveFile(relative, b64encode(document).decode(), MODE_PRIVATE))
    return tuple(files)


def pki_sync_script() -> str:
    return resources.files(__package__).joinpath("pki-sync.sh").read_text()


def _pki_mount_unit() -> str:
    lines = [
        "[Unit]",
        "Description=g8s live certificates and keys (the VM launcher's 9p share)",
        "",
        "[Mount]",
        f"What={PKI_MOUNT_TAG}",
        f"Where={PKI_SHARE}",
        "Type=9p",
        # cache=none (the default): a renewal the launcher's Secret volume
        # shows is read at once, never from a guest-side copy.
        "Options=ro,trans=virtio,version=9p2000.L",
    ]
    return _enabled_unit(lines)


def _pki_sync_unit() -> str:
    lines = [
        "[Unit]",
        f"Description=g8s live certificates and keys: {PKI_SHARE} copied to {PKI} on change",
        # Weak, as the kubelet's: pki-sync mounts the share again itself.
        f"Wants={PKI_MOUNT_UNIT}",
        f"After={PKI_MOUNT_UNIT}",
        "",
        "[Service]",
        f"ExecStart={PKI_SYNC_SCRIPT} watch",
        "Restart=always",
        "RestartSec=5",
    ]
    return _enabled_unit(lines)


def _kubelet_binary(spec: KVMNodeSpec, inputs: NodeInputs) -> tuple[str, list[dict[str, Any]]]:
    """Where the kubelet is, and the file entry that downloads it (when one must)."""
    if not inputs.images.kubelet_url:
        return KUBELET_IN_IMAGE, []
    entry = {
        "path": KUBELET_DOWNLOAD,
        "mode": 0o755,
        "overwrite": True,
        "contents": {"source": inputs.images.kubelet_url.format(version=spec.kubernetes_version)},
    }
    return KUBELET_DOWNLOAD, [entry]


# The API server's certificate names 127.0.0.1: its neighbours need no name.
LOCAL_API = "https://127.0.0.1:6443"


def kubelet_api(spec: KVMNodeSpec, inputs: NodeInputs) -> str:
    """The API server a node's kubelet reports to: a worker's by the API's name (its
    host Service, which reaches the control-plane VMs there are now), a control-plane
    node's its own. Through the Service a control-plane VM would be sent back to
    itself, out of the bridge port its frame came in by, which a bridge does not do
    (no hairpin): its kubelet never registered."""
    return LOCAL_API if spec.is_controlplane else inputs.api_endpoint


def _controlplane_files(spec: KVMNodeSpec, inputs: NodeInputs) -> list[dict[str, Any]]:
    files = []
    for component in (certs.CONTROLLER_MANAGER, certs.SCHEDULER):
        files.append(
            _json(
                _component_kubeconfig_path(component),
                kubeconfig(
                    LOCAL_API,
                    cert_path(component, "tls.crt"),
                    cert_path(component, "tls.key"),
                    f"system:kube-{component}",
                ),
                MODE_PRIVATE,
            )
        )
    for name, pod in (
        ("kube-apiserver", apiserver_pod(spec, inputs)),
        ("kube-controller-manager", controller_manager_pod(spec, inputs)),
        ("kube-scheduler", scheduler_pod(spec, inputs)),
    ):
        files.append(_json(f"{MANIFESTS}/{name}.yaml", pod))
    return files


def build(spec: KVMNodeSpec, inputs: NodeInputs) -> dict[str, Any]:
    """The node's Ignition config, as a JSON-ready dict."""
    net = inputs.network
    kubelet_bin, kubelet_download = _kubelet_binary(spec, inputs)
    files: list[dict[str, Any]] = [
        _text("/etc/hostname", spec.name + "\n"),
        _text("/etc/hosts", hosts_file(spec, inputs)),
        _text("/etc/resolv.conf", f"nameserver {net.dns}\n"),
        _text("/etc/systemd/network/00-g8s.network", _network_unit(net)),
        _json(KUBELET_CONFIG, kubelet_config(spec)),
        _json(
            KUBELET_KUBECONFIG,
            kubeconfig(
                kubelet_api(spec, inputs),
                cert_path(KUBELET, "tls.crt"),
                cert_path(KUBELET, "tls.key"),
                certs.node_common_name(spec.name),
            ),
            MODE_PRIVATE,
        ),
        _text(PKI_SYNC_SCRIPT, pki_sync_script(), 0o755),
        *kubelet_download,
    ]
    if net.pod_subnet:
        files.append(_json(CNI_CONFIG, cni_config(net.pod_subnet)))
    if spec.is_controlplane:
        files += _controlplane_files(spec, inputs)
    return {
        "ignition": {"version": IGNITION_VERSION},
        "storage": {
            "directories": [{"path": MANIFESTS, "mode": 0o755}],
            "files": files,
        },
        "systemd": {
            "units": [
                {"name": PKI_MOUNT_UNIT, "enabled": True, "contents": _pki_mount_unit()},
                {"name": PKI_SYNC_UNIT, "enabled": True, "contents": _pki_sync_unit()},
                {
                    "name": "kubelet.service",
                    "enabled": True,
                    "contents": _kubelet_unit(spec, net, kubelet_bin),
                },
            ]
        },
    }


def render(config: Mapping[str, Any]) -> bytes:
    """The config as the bytes QEMU hands to the guest (stable: sorted keys)."""
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
