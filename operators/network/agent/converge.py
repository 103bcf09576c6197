"""One convergence of this host: observe, plan, act, observe again -> per-network readiness.

Synchronous (netlink sockets block): the agent runs it in a worker thread.
A failing action stops the actions of its own network only; the others
still converge. A network is ready when a fresh plan for it is empty.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

from operators.network.agent.plan import (
    Action,
    AddAddress,
    AddBridge,
    AddFlood,
    AddVxlan,
    DeleteFlood,
    DeleteLink,
    DesiredNetwork,
    Host,
    Plan,
    SetLink,
    plan,
)
from shared.netlink import Netlink, NetlinkError


@dataclass(frozen=True)
class NetworkResult:
    ready: bool
    message: str = ""


@dataclass
class Result:
    applied: list[Action] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    networks: dict[str, NetworkResult] = field(default_factory=dict)


def apply(netlink: Netlink, action: Action) -> None:
    match action:
        case DeleteLink(name=name):
            netlink.delete(name)
        case AddBridge(name=name, alias=alias, mtu=mtu):
            netlink.add_bridge(name, alias=alias, mtu=mtu)
        case AddVxlan():
            netlink.add_vxlan(
                action.name,
                alias=action.alias,
                vni=action.vni,
                port=action.port,
                underlay=action.underlay,
                local=action.local,
                mtu=action.mtu,
            )
        case SetLink():
            netlink.set_link(
                action.name, alias=action.alias, mtu=action.mtu, master=action.master, up=action.up
            )
        case AddAddress(name=name, cidr=cidr):
            netlink.add_address(name, cidr)
        case AddFlood(name=name, remotes=remotes):
            netlink.add_flood(name, remotes)
        case DeleteFlood(name=name, remotes=remotes):
            netlink.delete_flood(name, remotes)


def converge(netlink: Netlink, desired: Sequence[DesiredNetwork], host: Host) -> Result:
    result = Result()
    first = plan(desired, netlink.links(), host)
    for action in first.actions:
        if action.network in result.errors:
            continue
        try:
            apply(netlink, action)
        except NetlinkError as exc:
            result.errors[action.network] = f"{type(action).__name__} {action.name}: {exc}"
            continue
        result.applied.append(action)
    after = plan(desired, netlink.links(), host) if first.actions else first
    result.networks = readiness(desired, after, result.errors)
    return result


def readiness(
    desired: Sequence[DesiredNetwork], after: Plan, errors: dict[str, str]
) -> dict[str, NetworkResult]:
    results: dict[str, NetworkResult] = {}
    for net in desired:
        if net.key in after.conflicts:
            results[net.key] = NetworkResult(False, after.conflicts[net.key])
        elif net.key in errors:
            results[net.key] = NetworkResult(False, errors[net.key])
        elif after.for_network(net.key):
            left = ", ".join(type(a).__name__ for a in after.for_network(net.key))
            results[net.key] = NetworkResult(False, f"still to do: {left}")
        else:
            results[net.key] = NetworkResult(True)
    return results
