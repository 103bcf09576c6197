"""The netlink adapter: the only kit module that imports pyroute2.

It covers what the network host agent does on its own host: list links with
their alias, kind, master, MTU and VXLAN attributes; create bridges and VXLAN
devices; enslave and bring links up; add and remove the all-zero forwarding
entries that flood a VXLAN device's broadcast and unknown traffic to the
other hosts; delete links. ``Netlink(netns=...)`` works inside a named
network namespace, which is how the integration tests give every simulated
host its own stack. Failures surface as ``NetlinkError`` so callers never see
pyroute2 types. The socket is synchronous: use it from a worker thread.
"""

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any

from pyroute2 import IPRoute
from pyroute2 import netns as _netns
from pyroute2.netlink.exceptions import NetlinkError as _PyrouteNetlinkError

# A forwarding entry with this MAC on a VXLAN device is the head-end
# replication list: broadcast and unknown unicast go to every such remote.
FLOOD_MAC = "00:00:00:00:00:00"


class NetlinkError(Exception):
    """A netlink request failed (errno and message from the kernel)."""

    def __init__(self, operation: str, code: int, message: str) -> None:
        super().__init__(f"{operation}: [{code}] {message}")
        self.operation = operation
        self.code = code


@dataclass(frozen=True)
class Link:
    """One network device as the kernel reports it."""

    name: str
    index: int
    kind: str
    alias: str
    mtu: int
    up: bool
    master: str | None = None
    # VXLAN devices only.
    vni: int | None = None
    port: int | None = None
    local: str | None = None
    underlay: str | None = None
    learning: bool | None = None
    # Remote tunnel endpoints of the flood (all-zero MAC) entries; VXLAN only.
    flood: frozenset[str] = field(default_factory=frozenset)
    # IPv4 addresses with prefix length ("198.19.128.1/24").
    addresses: frozenset[str] = field(default_factory=frozenset)


@contextmanager
def _errors(operation: str) -> Iterator[None]:
    try:
        yield
    except _PyrouteNetlinkError as exc:
        raise NetlinkError(operation, int(exc.code), str(exc)) from None


class Netlink:
    """A netlink socket on the current host, or inside network namespace ``netns``."""

    def __init__(self, netns: str | None = None) -> None:
        with _errors("open"):
            self._ipr = _open_in(netns) if netns else IPRoute()

    def close(self) -> None:
        self._ipr.close()

    def __enter__(self) -> "Netlink":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- reading -------------------------------------------------------------

    def links(self) -> list[Link]:
        """Every link, with the flood entries of VXLAN devices (two dumps in all)."""
        with _errors("dump links"):
            raw = list(self._ipr.get_links())
        names = {int(msg["index"]): str(msg.get("ifname")) for msg in raw}
        with _errors("dump fdb"):
            entries = list(self._ipr.fdb("dump"))
        flood: dict[int, set[str]] = {}
        for entry in entries:
            dst = entry.get("NDA_DST")
            if entry.get("NDA_LLADDR") == FLOOD_MAC and dst:
                flood.setdefault(int(entry["ifindex"]), set()).add(str(dst))
        with _errors("dump addresses"):
            addrs = list(self._ipr.get_addr(family=2))
        addresses: dict[int, set[str]] = {}
        for msg in addrs:
            cidr = f"{msg.get('IFA_ADDRESS')}/{msg['prefixlen']}"
            addresses.setdefault(int(msg["index"]), set()).add(cidr)
        links = [_link(msg, names, flood) for msg in raw]
        return [replace(link, addresses=frozenset(addresses.get(link.index, ()))) for link in links]

    def addresses(self, name: str) -> list[str]:
        """IPv4 addresses of link ``name``, without prefix length."""
        index = self._index(name)
        with _errors(f"addresses of {name}"):
            found = self._ipr.get_addr(index=index, family=2)
        return [str(msg.get("IFA_ADDRESS")) for msg in found]

    def underlay_of(self, address: str) -> str | None:
        """The name of the link holding IPv4 ``address``, if any."""
        with _errors("dump addresses"):
            found = list(self._ipr.get_addr(family=2))
        for msg in found:
            if msg.get("IFA_ADDRESS") == address:
                return str(self._ipr.get_links(msg["index"])[0].get("ifname"))
        return None

    def _index(self, name: str) -> int:
        with _errors(f"lookup {name}"):
            found = self._ipr.link_lookup(ifname=name)
        if not found:
            raise NetlinkError(f"lookup {name}", 19, "No such device")
        return int(found[0])

    # --- writing -------------------------------------------------------------

    def add_address(self, name: str, cidr: str) -> None:
        """Add IPv4 ``cidr`` (address/prefix) to link ``name``."""
        index = self._index(name)
        address, _, prefix = cidr.partition("/")
        with _errors(f"add address {cidr} to {name}"):
            self._ipr.addr("add", index=index, address=address, prefixlen=int(prefix))

    def add_bridge(self, name: str, *, alias: str, mtu: int) -> None:
        with _errors(f"add bridge {name}"):
            self._ipr.link("add", ifname=name, kind="bridge")
        self.set_link(name, alias=alias, mtu=mtu)

    def add_vxlan(
        self, name: str, *, alias: str, vni: int, port: int, underlay: str, local: str, mtu: int
    ) -> None:
        """A VXLAN device without learning: the flood entries are the only remotes."""
        underlay_index = self._index(underlay)
        with _errors(f"add vxlan {name}"):
            self._ipr.link(
                "add",
                ifname=name,
                kind="vxlan",
                vxlan_id=vni,
                vxlan_link=underlay_index,
                vxlan_port=port,
                vxlan_local=local,
                vxlan_learning=0,
            )
        self.set_link(name, alias=alias, mtu=mtu)

    def set_link(
        self,
        name: str,
        *,
        alias: str | None = None,
        mtu: int | None = None,
        master: str | None = None,
        up: bool | None = None,
    ) -> None:
        index = self._index(name)
        attrs: dict[str, Any] = {}
        if alias is not None:
            attrs["ifalias"] = alias
        if mtu is not None:
            attrs["mtu"] = mtu
        if master is not None:
            attrs["master"] = self._index(master)
        if up is not None:
            attrs["state"] = "up" if up else "down"
        if not attrs:
            return
        with _errors(f"set {name}"):
            self._ipr.link("set", index=index, **attrs)

    def add_flood(self, name: str, remotes: Iterable[str]) -> None:
        index = self._index(name)
        for remote in remotes:
            with _errors(f"add fdb {name} -> {remote}"):
                self._ipr.fdb("append", ifindex=index, lladdr=FLOOD_MAC, dst=remote)

    def delete_flood(self, name: str, remotes: Iterable[str]) -> None:
        index = self._index(name)
        for remote in remotes:
            with _errors(f"delete fdb {name} -> {remote}"):
                self._ipr.fdb("del", ifindex=index, lladdr=FLOOD_MAC, dst=remote)

    def delete(self, name: str) -> None:
        index = self._index(name)
        with _errors(f"delete {name}"):
            self._ipr.link("del", index=index)


def _open_in(netns: str) -> Any:
    """A socket inside ``netns``, opened by this thread entering it and coming back.

    pyroute2's own ``IPRoute(netns=...)`` forks a helper and stops it with
    SIGTERM; in an asyncio program the child shares the loop's signal wakeup
    descriptor, so the parent reads that SIGTERM as its own and shuts down.
    setns(2) moves only the calling thread, and a socket stays in the
    namespace it was created in.
    """
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        try:
            _netns.setns(netns, flags=0, fork=False)
        except OSError as exc:
            raise NetlinkError(f"enter netns {netns}", exc.errno or 0, str(exc)) from None
        try:
            return IPRoute()
        finally:
            _netns.setns(own, flags=0, fork=False)
    finally:
        os.close(own)


def _link(msg: Any, names: dict[int, str], flood: dict[int, set[str]]) -> Link:
    index = int(msg["index"])
    info = msg.get("IFLA_LINKINFO")
    kind = str(info.get("IFLA_INFO_KIND") or "") if info else ""
    master = msg.get("IFLA_MASTER")
    link = Link(
        name=str(msg.get("IFLA_IFNAME")),
        index=index,
        kind=kind,
        alias=str(msg.get("IFLA_IFALIAS") or ""),
        mtu=int(msg.get("IFLA_MTU") or 0),
        up=bool(int(msg["flags"]) & 1),
        master=names.get(int(master)) if master else None,
    )
    if kind != "vxlan":
        return link
    data = info.get("IFLA_INFO_DATA")
    underlay = data.get("IFLA_VXLAN_LINK")
    return Link(
        name=link.name,
        index=index,
        kind=kind,
        alias=link.alias,
        mtu=link.mtu,
        up=link.up,
        master=link.master,
        vni=int(data.get("IFLA_VXLAN_ID")),
        port=int(data.get("IFLA_VXLAN_PORT")),
        local=data.get("IFLA_VXLAN_LOCAL"),
        underlay=names.get(int(underlay)) if underlay else None,
        learning=bool(data.get("IFLA_VXLAN_LEARNING")),
        flood=frozenset(flood.get(index, ())),
    )
