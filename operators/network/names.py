"""Names the operator and the host agent derive from a network: devices, records, policies.

Pure. Device names come from the VNI, which is unique on every host, and fit
the kernel's 15-character limit for every 24-bit VNI (``g8br16777215``).
"""

import ipaddress

BRIDGE_PREFIX = "g8br"
VXLAN_PREFIX = "g8vx"
# The interface alias marking a device as the agent's; it never touches a
# device without it, even one whose name looks like its own.
ALIAS_PREFIX = "g8s-network:"

VNI_RECORD_PREFIX = "g8s-vni-"
SUBNET_RECORD_PREFIX = "g8s-subnet-"


def bridge(vni: int) -> str:
    return f"{BRIDGE_PREFIX}{vni}"


def vxlan(vni: int) -> str:
    return f"{VXLAN_PREFIX}{vni}"


def alias(namespace: str, name: str) -> str:
    return f"{ALIAS_PREFIX}{namespace}/{name}"


def vni_record(vni: int) -> str:
    """The allocation record holding ``vni``: its name *is* the value, so it is unique."""
    return f"{VNI_RECORD_PREFIX}{vni}"


def subnet_record(block: ipaddress.IPv4Network) -> str:
    """The allocation record of one subnet block (``g8s-subnet-10-100-3-0-24``)."""
    return f"{SUBNET_RECORD_PREFIX}{str(block.network_address).replace('.', '-')}-{block.prefixlen}"


def isolation_policy(cluster: str) -> str:
    return f"{cluster}-isolation"


def apiserver_policy(cluster: str) -> str:
    return f"{cluster}-apiserver-ingress"
