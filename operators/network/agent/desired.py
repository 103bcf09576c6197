"""Pure: ClusterNetworks and host Nodes -> what this host converges, and what it reports.

Only allocated networks (``status.vni`` set) that are not being deleted are
desired; the remotes are the tunnel endpoints (InternalIP) of every host node.
"""

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from operators.network.agent.plan import DesiredNetwork
from operators.network.model import VNI_MAX
from shared.api import API_VERSION
from shared.api.kinds import CLUSTER_NETWORK


@dataclass(frozen=True)
class NetworkView:
    """What the agent indexes of one ClusterNetwork."""

    namespace: str
    name: str
    generation: int
    vni: int | None
    mtu: int
    deleting: bool
    # This host's entry of status.hosts, as last written.
    reported: Mapping[str, Any] | None
    # The guests' gateway as address/prefix, from status.gateway and status.subnet.
    gateway: str = ""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def view(body: Mapping[str, Any], host: str) -> NetworkView:
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    spec = body.get("spec") or {}
    vni = status.get("vni")
    mtu = spec.get("mtu")
    entries = status.get("hosts") or []
    mine = next((e for e in entries if isinstance(e, Mapping) and e.get("name") == host), None)
    valid_vni = isinstance(vni, int) and not isinstance(vni, bool) and 1 <= vni <= VNI_MAX
    return NetworkView(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        generation=int(meta.get("generation") or 0),
        vni=vni if valid_vni else None,
        mtu=mtu if isinstance(mtu, int) and 1280 <= mtu <= 9000 else 1450,
        deleting=bool(meta.get("deletionTimestamp")),
        reported=dict(mine) if mine is not None else None,
        gateway=gateway_cidr(status.get("gateway"), status.get("subnet")),
    )


def gateway_cidr(gateway: object, subnet: object) -> str:
    """``gateway`` with ``subnet``'s prefix length, or "" unless both are sound."""
    try:
        network = ipaddress.IPv4Network(str(subnet), strict=False)
        address = ipaddress.IPv4Address(str(gateway))
    except ValueError:
        return ""
    return f"{address}/{network.prefixlen}" if address in network else ""


def internal_ip(node: Mapping[str, Any]) -> str | None:
    for address in (node.get("status") or {}).get("addresses") or []:
        if address.get("type") == "InternalIP":
            return str(address.get("address"))
    return None


def matches(labels: Mapping[str, str], selector: str) -> bool:
    """Equality-based label selector (``a=b,c``) as the operator's setting writes it."""
    for part in filter(None, (p.strip() for p in selector.split(","))):
        key, sep, value = part.partition("=")
        if sep and labels.get(key.strip()) != value.strip():
            return False
        if not sep and key not in labels:
            return False
    return True


def desired(networks: Iterable[NetworkView], vteps: Iterable[str]) -> list[DesiredNetwork]:
    remotes = frozenset(vteps)
    return [
        DesiredNetwork(n.namespace, n.name, n.generation, n.vni, n.mtu, remotes, n.gateway)
        for n in networks
        if n.vni is not None and not n.deleting
    ]


def entry(host: str, vtep: str, generation: int, ready: bool, message: str) -> dict[str, Any]:
    return {
        "name": host,
        "ready": ready,
        "vtep": vtep,
        "observedGeneration": generation,
        "message": message[:4000],
    }


def changed(reported: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> bool:
    return reported is None or any(reported.get(k) != v for k, v in wanted.items())


def status_body(namespace: str, name: str, host_entry: Mapping[str, Any]) -> dict[str, Any]:
    """The server-side apply body holding this host's entry (and nothing else it could own)."""
    return {
        "apiVersion": API_VERSION,
        "kind": CLUSTER_NETWORK.kind,
        "metadata": {"name": name, "namespace": namespace},
        "status": {"hosts": [dict(host_entry)]},
    }
