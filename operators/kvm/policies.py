"""Pure decisions of the kvm operator: addresses, sizing, drain progress."""

import hashlib
import ipaddress
from dataclasses import dataclass

from operators.kvm.model import KVMNodeSpec
from shared.errors import InvalidSpec

# Host offsets in the guest cluster's subnet: the gateway takes the first
# address; control-plane nodes follow from CP_BASE, workers from WORKER_BASE,
# so a node's address depends only on its role and index (stable across
# restarts, no allocation to record).
CP_BASE = 10
CP_SLOTS = 40
WORKER_BASE = CP_BASE + CP_SLOTS
API_PORT = 6443


def node_address(spec: KVMNodeSpec, subnet: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    offset = (CP_BASE if spec.is_controlplane else WORKER_BASE) + spec.index
    if spec.is_controlplane and spec.index >= CP_SLOTS:
        raise InvalidSpec("spec.index", f"control-plane index must be below {CP_SLOTS}")
    # The last address of the subnet is its broadcast address.
    if offset >= subnet.num_addresses - 1:
        raise InvalidSpec(
            "spec.index",
            f"index {spec.index} puts the node outside subnet {subnet} "
            f"({subnet.num_addresses - 2} usable addresses)",
        )
    return subnet.network_address + offset


def controlplane_address(subnet: ipaddress.IPv4Network, index: int = 0) -> ipaddress.IPv4Address:
    return subnet.network_address + CP_BASE + index


def api_endpoint(spec: KVMNodeSpec, subnet: ipaddress.IPv4Network) -> str:
    """The guest API URL the kubelet joins: the spec's, else the first control-plane node."""
    if spec.api_endpoint:
        return spec.api_endpoint
    return f"https://{controlplane_address(subnet)}:{API_PORT}"


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


def pod_resources(spec: KVMNodeSpec, overhead_mib: int, overhead_millicpu: int) -> Resources:
    """Requests (== limits, Guaranteed QoS) for the launcher pod: the VM plus QEMU's overhead."""
    millicpu = spec.cpus * 1000 + overhead_millicpu
    return Resources(cpu=f"{millicpu}m", memory=f"{spec.memory_mib + overhead_mib}Mi")


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
