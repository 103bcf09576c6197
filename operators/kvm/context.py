"""The kvm operator's settings (prefix ``G8S_KVM_``) and context (kopf memo)."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from operators.kvm.launcher.config import AUTO, KVM, TCG
from shared.api import API_VERSION, labels
from shared.api.kinds import CLUSTER_NETWORK
from shared.identity import OperatorIdentity
from shared.kube import Kube, connect_kubeconfig
from shared.kube.versions import Versions
from shared.metrics import OperatorMetrics
from shared.placement import PlacementError, pod_placement
from shared.runtime import OperatorContext, host_api
from shared.settings import RuntimeSettings, SettingsError, load
from shared.watched import Watched, certificate_secrets, fields, kept

PREFIX = "G8S_KVM_"
ACCELS = (AUTO, KVM, TCG)


@dataclass(frozen=True)
class KVMSettings:
    """Settings of the kvm operator (prefix ``G8S_KVM_``)."""

    # Image holding QEMU and the g8s launcher (python -m operators.kvm.launcher).
    launcher_image: str = "g8s/kvm-launcher:latest"
    # The VMs' accelerator (G8S_LAUNCHER_ACCEL): auto (KVM when the host's
    # /dev/kvm opens, else software emulation), kvm, or tcg (software
    # emulation, for hosts whose /dev/kvm opens but cannot run a guest).
    accel: str = AUTO
    # Host directory of the guest OS image (manifest.json, kernel, initrd,
    # root image), mounted read-only into every launcher pod; empty: the
    # image baked into the launcher image.
    guest_image_path: str = ""
    # Where the launcher pods run: node selector entries "key=value" and
    # tolerations "key[=value][:Effect]" (shared/placement.py).
    node_selector: tuple[str, ...] = ()
    tolerations: tuple[str, ...] = ()
    # Where the guest's control-plane images come from: g8s.local is what the
    # g8s guest image preloads (make guest-image); another image may pull from
    # a registry instead.
    image_registry: str = "g8s.local"
    # Where the guest downloads the kubelet ({version}: the node's version);
    # empty: the guest image's own kubelet (the g8s guest image has one).
    kubelet_url: str = ""
    # vCPUs per requested CPU: 1 requests every vCPU (Guaranteed QoS); above
    # 1 the launcher pod requests its CPU limit divided by it (overcommit).
    cpu_allocation_ratio: float = 1.0
    # Memory and CPU QEMU itself uses beyond the guest's own (pod sizing).
    qemu_overhead_mib: int = 256
    qemu_overhead_millicpu: int = 250
    # StorageClass of the disks; empty: the cluster's default.
    storage_class: str = ""
    # Ask the guest API for the Node's readiness and drain through it. Off
    # where no guest boots (the local environment): readiness then comes
    # from the host pod, and the condition's reason says so.
    guest_checks: bool = True
    # The host cluster's DNS domain, for the etcd Service's name seen from VMs.
    host_cluster_domain: str = "cluster.local"
    # DNS server the VMs use.
    guest_dns: str = "1.1.1.1"
    # Seconds the launcher waits for the guest's ACPI power-down on SIGTERM.
    shutdown_timeout: int = 120
    # Delay between two looks at a node while it starts or drains (seconds).
    poll_interval: float = 10.0
    # Period of the reconciliation that refreshes pod and guest state (seconds).
    interval: float = 60.0

    def __post_init__(self) -> None:
        # Wrong values fail at start-up, not in every node's launcher pod.
        if self.cpu_allocation_ratio < 1:
            raise SettingsError(
                f"G8S_KVM_CPU_ALLOCATION_RATIO={self.cpu_allocation_ratio}: must be 1 or more"
            )
        if self.accel not in ACCELS:
            expected = ", ".join(ACCELS)
            raise SettingsError(f"G8S_KVM_ACCEL={self.accel!r}: expected one of {expected}")
        try:
            pod_placement(self.node_selector, self.tolerations)
        except PlacementError as exc:
            raise SettingsError(f"G8S_KVM_NODE_SELECTOR / G8S_KVM_TOLERATIONS: {exc}") from None


# What a node reads of its ClusterNetwork (reconcile.read_network).
NETWORK_FIELDS = fields(("status", "subnet"), ("status", "gateway"), ("status", "bridge"))


def host_kind(node: Mapping[str, Any] | None) -> dict[str, str]:
    """What a node's look reads of its launcher pod's host Node: whether the host
    only simulates its pods (its ``g8s.io/host`` label); {} when the Node is missing."""
    if node is None:
        return {}
    value = ((node.get("metadata") or {}).get("labels") or {}).get(labels.HOST)
    return {"simulated": "true" if value == labels.HOST_SIMULATED else "false"}


def load_settings(environ: Mapping[str, str]) -> KVMSettings:
    return load(KVMSettings, environ, prefix=PREFIX)


@dataclass
class KVMContext(OperatorContext):
    settings: KVMSettings = field(default_factory=KVMSettings)
    # Builds a client for a guest cluster from its kubeconfig document.
    guest_client: Callable[[str], Kube] | None = None
    # A ClusterNetwork's subnet, gateway and bridge, and the etcd client
    # Service's ClusterIP, kept current by watches (shared/watched.py), so a
    # refresh does not read them again; None: read at every look.
    networks: Watched | None = None
    services: Watched | None = None
    # Whether each host Node simulates its pods, read once per ``MAX_AGE``
    # (no watch: a host does not change kind), not at every look of every
    # node (37.0 reads per cluster while 1,000 were built).
    host_kinds: Watched | None = None


def make_context(
    identity: OperatorIdentity,
    runtime: RuntimeSettings,
    metrics: OperatorMetrics,
    settings: KVMSettings,
) -> KVMContext:
    field_manager = identity.field_manager
    kube = host_api(runtime, field_manager, metrics, versions=Versions())
    return KVMContext(
        identity=identity,
        runtime=runtime,
        metrics=metrics,
        settings=settings,
        kube=kube,
        guest_client=lambda text: Kube(connect_kubeconfig(text), field_manager),
        secrets=certificate_secrets(kube),
        networks=kept(kube, API_VERSION, CLUSTER_NETWORK.kind, NETWORK_FIELDS),
        services=kept(kube, "v1", "Service", fields(("spec", "clusterIP"))),
        host_kinds=kept(kube, "v1", "Node", host_kind),
    )
