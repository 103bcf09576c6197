"""Pure decisions of the kvm operator: addresses, sizing, drain progress."""

import hashlib
import ipaddress
from dataclasses import dataclass

from operators.kvm.model import KVMNodeSpec
from shared.api import names
from shared.errors import InvalidSpec

# Host offsets in the guest cluster's subnet: the gateway takes the first
# address; control-plane nodes follow from ``cp_base``, workers from
# ``worker_base``, so a node's address depends only on its role, its index and
# the subnet's size (stable across restarts, no allocation to record).
API_PORT = 6443


@dataclass(frozen=True)
class Layout:
    cp_base: int
    cp_slots: int

    @property
    def worker_base(self) -> int:
        return self.cp_base + self.cp_slots


# A subnet of 64 addresses or more: control planes from offset 10 (room for 40),
# workers from 50. A smaller one (the benchmark's /27s, 1,024 clusters in a
# /17) starts right after the gateway and keeps an eighth for control planes:
# a /27 holds 4 control planes and 25 workers, a /28 2 and 11.
WIDE_LAYOUT = Layout(cp_base=10, cp_slots=40)
WIDE_SUBNET = 64


def layout(subnet: ipaddress.IPv4Network) -> Layout:
    if subnet.num_addresses >= WIDE_SUBNET:
        return WIDE_LAYOUT
    return Layout(cp_base=2, cp_slots=max(1, subnet.num_addresses // 8))


def node_address(spec: KVMNodeSpec, subnet: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    place = layout(subnet)
    offset = (place.cp_base if spec.is_controlplane else place.worker_base) + spec.index
    if spec.is_controlplane and spec.index >= place.cp_slots:
        raise InvalidSpec(
            "spec.index",
            f"control-plane index must be below {place.cp_slots} in subnet {subnet}",
        )
    # The last address of the subnet is its broadcast address.
    if offset >= subnet.num_addresses - 1:
        raise InvalidSpec(
            "spec.index",
            f"index {spec.index} puts the node outside subnet {subnet} "
            f"({subnet.num_addresses - 2} usable addresses)",
        )
    return subnet.network_address + offset


# Each node's pod subnet is the block of the cluster's pod CIDR numbered by the
# node's host offset: (offset, subnet) is a fixed pair, so routes to every
# other node's pods are static and a new node changes nothing on the others.
POD_BLOCK_BITS = 8


def host_offsets(subnet: ipaddress.IPv4Network) -> range:
    """The host offsets nodes may take in ``subnet`` (gateway and broadcast excluded)."""
    return range(layout(subnet).cp_base, min(subnet.num_addresses - 1, 1 << POD_BLOCK_BITS))


def pod_block(pod_cidr: ipaddress.IPv4Network, offset: int) -> ipaddress.IPv4Network:
    prefix = pod_cidr.prefixlen + POD_BLOCK_BITS
    if prefix > 28:
        raise InvalidSpec(
            "spec.podCIDR",
            f"{pod_cidr} is too small: every node takes a /{prefix} of it; use a /20 or larger",
        )
    size = 1 << (32 - prefix)
    return ipaddress.IPv4Network((int(pod_cidr.network_address) + offset * size, prefix))


def node_pod_subnet(spec: KVMNodeSpec, subnet: ipaddress.IPv4Network) -> ipaddress.IPv4Network:
    offset = int(node_address(spec, subnet)) - int(subnet.network_address)
    return pod_block(spec.pod_cidr, offset)


def peer_routes(spec: KVMNodeSpec, subnet: ipaddress.IPv4Network) -> tuple[tuple[str, str], ...]:
    """(pod subnet, node address) of every other node this cluster's subnet can hold."""
    own = int(node_address(spec, subnet)) - int(subnet.network_address)
    return tuple(
        (str(pod_block(spec.pod_cidr, offset)), str(subnet.network_address + offset))
        for offset in host_offsets(subnet)
        if offset != own
    )


def controlplane_address(subnet: ipaddress.IPv4Network, index: int = 0) -> ipaddress.IPv4Address:
    return subnet.network_address + layout(subnet).cp_base + index


def api_host(spec: KVMNodeSpec) -> str:
    """The API server's name in the guests' /etc/hosts: one its certificate carries."""
    return f"{names.apiserver_service(spec.cluster)}.{spec.namespace}.svc"


def api_endpoint(spec: KVMNodeSpec) -> str:
    """The guest API URL the kubelet joins: the spec's, else the control plane by name."""
    if spec.api_endpoint:
        return spec.api_endpoint
    return f"https://{api_host(spec)}:{API_PORT}"


def mac_address(spec: KVMNodeSpec) -> str:
    """A stable, locally administered unicast MAC derived from the node's name."""

    digest = hashlib.sha256(f"{spec.namespace}/{spec.name}".encode()).digest()
    # 0x52:0x54 is QEMU's customary prefix; its first octet has the
    # locally-administered bit set and the multicast bit clear.
    octets = [0x52, 0x54, *digest[:4]]
    return ":".join(f"{o:02x}" for o in octets)


@dataclass(frozen=True)
class Resources:
    cpu: str
    memory: str
    # The CPU the pod requests; empty: its limit (Guaranteed QoS).
    cpu_request: str = ""


def pod_resources(
    spec: KVMNodeSpec, overhead_mib: int, overhead_millicpu: int, cpu_allocation_ratio: float = 1.0
) -> Resources:
    """Limits for the launcher pod (the VM plus QEMU's overhead), and its CPU request.

    With an allocation ratio above 1 a VM's vCPUs are overcommitted, as
    KubeVirt's cpuAllocationRatio does: the pod requests its limit divided by
    the ratio (Burstable QoS). Memory is never overcommitted.
    """
    millicpu = spec.cpus * 1000 + overhead_millicpu
    request = (
        "" if cpu_allocation_ratio == 1 else f"{max(1, int(millicpu / cpu_allocation_ratio))}m"
    )
    return Resources(
        cpu=f"{millicpu}m", memory=f"{spec.memory_mib + overhead_mib}Mi", cpu_request=request
    )


@dataclass(frozen=True)
class DrainDecision:
    """What to do after one drain pass: done, wait, or give up on the timeout."""

    done: bool
    timed_out: bool
    reason: str
    message: str


def drain_decision(
    remaining: int, blocked: int, elapsed: float, timeout: float, unreachable: str = ""
) -> DrainDecision:
    if not unreachable and remaining == 0:
        return DrainDecision(True, False, "Drained", "every evictable pod is gone")
    what = (
        f"guest API unreachable: {unreachable}"
        if unreachable
        else f"{remaining} pod(s) left, {blocked} held by a PodDisruptionBudget"
    )
    if elapsed >= timeout:
        return DrainDecision(
            True,
            True,
            "GuestUnreachable" if unreachable else "DrainTimeout",
            f"{what}; drain timeout {timeout:g}s reached, removing the VM anyway",
        )
    reason = "GuestUnreachable" if unreachable else "Draining"
    return DrainDecision(False, False, reason, f"{what}; {elapsed:.0f}s of {timeout:g}s")


READY_PORT_BASE = 20000
READY_PORT_RANGE = 10000


def ready_port(spec: KVMNodeSpec) -> int:
    """The launcher's readiness port: pods share the host's network, so spread by name."""
    digest = hashlib.sha256(f"{spec.namespace}/{spec.name}".encode()).digest()
    return READY_PORT_BASE + int.from_bytes(digest[:4], "big") % READY_PORT_RANGE
