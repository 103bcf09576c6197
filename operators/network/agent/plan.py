"""Pure: the devices this host should have vs the devices it has -> ordered actions.

Order: devices of vanished networks first (VXLAN before bridge, freeing their
VNIs), then per network the bridge with the guests' gateway address (each
host routes its guests' traffic towards the host cluster's Services), the
VXLAN device enslaved to it, and the flood entries. A device whose name is
ours but that lacks our alias is a conflict for its network, never a target.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from operators.network import names
from shared.netlink import Link

VXLAN_PORT = 4789


@dataclass(frozen=True)
class Host:
    name: str
    # The underlay address (VXLAN tunnel endpoint) and the device holding it.
    vtep: str
    underlay: str


@dataclass(frozen=True)
class DesiredNetwork:
    namespace: str
    name: str
    generation: int
    vni: int
    mtu: int
    remotes: frozenset[str]
    # The guests' gateway on the bridge (address/prefix); empty: none yet.
    gateway: str = ""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def bridge(self) -> str:
        return names.bridge(self.vni)

    @property
    def vxlan(self) -> str:
        return names.vxlan(self.vni)

    @property
    def alias(self) -> str:
        return names.alias(self.namespace, self.name)


@dataclass(frozen=True)
class DeleteLink:
    network: str
    name: str


@dataclass(frozen=True)
class AddBridge:
    network: str
    name: str
    alias: str
    mtu: int


@dataclass(frozen=True)
class AddVxlan:
    network: str
    name: str
    alias: str
    vni: int
    port: int
    underlay: str
    local: str
    mtu: int


@dataclass(frozen=True)
class SetLink:
    network: str
    name: str
    mtu: int | None = None
    master: str | None = None
    up: bool | None = None
    alias: str | None = None


@dataclass(frozen=True)
class AddAddress:
    network: str
    name: str
    cidr: str


@dataclass(frozen=True)
class AddFlood:
    network: str
    name: str
    remotes: tuple[str, ...]


@dataclass(frozen=True)
class DeleteFlood:
    network: str
    name: str
    remotes: tuple[str, ...]


Action = DeleteLink | AddBridge | AddVxlan | SetLink | AddAddress | AddFlood | DeleteFlood


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...] = ()
    # Network key -> why it cannot be converged (e.g. a foreign device in the way).
    conflicts: dict[str, str] = field(default_factory=dict)

    def for_network(self, key: str) -> list[Action]:
        return [a for a in self.actions if a.network == key]


def ours(link: Link) -> bool:
    return link.alias.startswith(names.ALIAS_PREFIX)


def _vxlan_matches(link: Link, net: DesiredNetwork, host: Host, port: int) -> bool:
    return (
        link.kind == "vxlan"
        and link.vni == net.vni
        and link.port == port
        and link.local == host.vtep
        and link.underlay == host.underlay
        and link.learning is False
    )


def plan(
    desired: Iterable[DesiredNetwork],
    links: Sequence[Link],
    host: Host,
    port: int = VXLAN_PORT,
) -> Plan:
    by_name = {link.name: link for link in links}
    wanted = sorted(desired, key=lambda n: n.vni)
    wanted_names = {n for net in wanted for n in (net.bridge, net.vxlan)}
    actions: list[Action] = []
    conflicts: dict[str, str] = {}

    stale = [link for link in links if ours(link) and link.name not in wanted_names]
    for link in sorted(stale, key=lambda item: (item.kind != "vxlan", item.name)):
        actions.append(DeleteLink(link.alias.removeprefix(names.ALIAS_PREFIX), link.name))

    for net in wanted:
        foreign = [n for n in (net.bridge, net.vxlan) if n in by_name and not ours(by_name[n])]
        if foreign:
            conflicts[net.key] = (
                f"device {', '.join(foreign)} exists and was not created by g8s; not touched"
            )
            continue
        actions += _bridge(net, by_name.get(net.bridge))
        actions += _vxlan(net, by_name.get(net.vxlan), host, port)
    return Plan(tuple(actions), conflicts)


def _bridge(net: DesiredNetwork, link: Link | None) -> list[Action]:
    if link is None or link.kind != "bridge":
        replace: list[Action] = [] if link is None else [DeleteLink(net.key, net.bridge)]
        return [
            *replace,
            AddBridge(net.key, net.bridge, net.alias, net.mtu),
            SetLink(net.key, net.bridge, up=True),
            *([AddAddress(net.key, net.bridge, net.gateway)] if net.gateway else []),
        ]
    change = SetLink(
        net.key,
        net.bridge,
        mtu=net.mtu if link.mtu != net.mtu else None,
        up=True if not link.up else None,
        alias=net.alias if link.alias != net.alias else None,
    )
    actions: list[Action] = [change] if change != SetLink(net.key, net.bridge) else []
    if net.gateway and net.gateway not in link.addresses:
        actions.append(AddAddress(net.key, net.bridge, net.gateway))
    return actions


def _vxlan(net: DesiredNetwork, link: Link | None, host: Host, port: int) -> list[Action]:
    result: list[Action] = []
    current: frozenset[str] = frozenset()
    if link is not None and _vxlan_matches(link, net, host, port):
        current = link.flood
        change = SetLink(
            net.key,
            net.vxlan,
            mtu=net.mtu if link.mtu != net.mtu else None,
            master=net.bridge if link.master != net.bridge else None,
            up=True if not link.up else None,
            alias=net.alias if link.alias != net.alias else None,
        )
        if change != SetLink(net.key, net.vxlan):
            result.append(change)
    else:
        if link is not None:
            # VNI, port, endpoint or underlay cannot change in place.
            result.append(DeleteLink(net.key, net.vxlan))
        result += [
            AddVxlan(
                net.key, net.vxlan, net.alias, net.vni, port, host.underlay, host.vtep, net.mtu
            ),
            SetLink(net.key, net.vxlan, master=net.bridge, up=True),
        ]
    remotes = net.remotes - {host.vtep}
    missing = tuple(sorted(remotes - current))
    extra = tuple(sorted(current - remotes))
    if missing:
        result.append(AddFlood(net.key, net.vxlan, missing))
    if extra:
        result.append(DeleteFlood(net.key, net.vxlan, extra))
    return result
