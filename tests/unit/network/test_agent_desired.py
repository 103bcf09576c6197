"""The agent's pure inputs and outputs: networks and nodes -> desired; results -> status entries.

Covers: only allocated networks that are not being deleted are desired, with
every host's endpoint as remotes; the node's InternalIP and the host
selector; the status entry written only when it changed; the apply body
holding only this host's entry. And ``converge`` readiness with an
in-memory netlink: a failing action fails its own network only.
"""

from typing import Any, cast

import pytest

from operators.network.agent import desired as d
from operators.network.agent.converge import converge
from operators.network.agent.plan import DesiredNetwork, Host
from shared.netlink import Link, Netlink, NetlinkError


def network(name: str, vni: int | None, *, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "generation": 3}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    status: dict[str, Any] = {"hosts": [{"name": "h1", "ready": True, "observedGeneration": 3}]}
    if vni is not None:
        status["vni"] = vni
    return {"metadata": meta, "spec": {"mtu": 1400}, "status": status}


def test_desired_networks() -> None:
    views = [
        d.view(network("a", 10), "h1"),
        d.view(network("b", None), "h1"),
        d.view(network("c", 30, deleting=True), "h1"),
    ]
    got = d.desired(views, ["192.0.2.1", "192.0.2.2"])
    assert got == [DesiredNetwork("ns", "a", 3, 10, 1400, frozenset({"192.0.2.1", "192.0.2.2"}))]
    assert views[0].reported == {"name": "h1", "ready": True, "observedGeneration": 3}
    assert d.view(network("a", 10), "h2").reported is None


def test_nodes_and_selector() -> None:
    node = {
        "status": {
            "addresses": [
                {"type": "Hostname", "address": "x"},
                {"type": "InternalIP", "address": "10.0.0.5"},
            ]
        }
    }
    assert d.internal_ip(node) == "10.0.0.5"
    assert d.internal_ip({}) is None
    assert d.matches({"a": "b", "c": "d"}, "a=b, c")
    assert not d.matches({"a": "x"}, "a=b")
    assert not d.matches({}, "c")
    assert d.matches({}, "")


def test_status_entry_written_only_on_change() -> None:
    entry = d.entry("h1", "192.0.2.1", 3, True, "")
    assert not d.changed({**entry}, entry)
    assert d.changed(None, entry)
    assert d.changed({**entry, "ready": False}, entry)
    assert d.status_body("ns", "a", entry) == {
        "apiVersion": "g8s.io/v1alpha1",
        "kind": "ClusterNetwork",
        "metadata": {"name": "a", "namespace": "ns"},
        "status": {"hosts": [entry]},
    }


class FakeNetlink:
    """Links in memory; adding the bridge of VNI 20 fails like a kernel refusal."""

    def __init__(self) -> None:
        self.state: dict[str, Link] = {}

    def links(self) -> list[Link]:
        return list(self.state.values())

    def add_bridge(self, name: str, *, alias: str, mtu: int) -> None:
        if name == "g8br20":
            raise NetlinkError(f"add bridge {name}", 17, "File exists")
        self.state[name] = Link(name, len(self.state), "bridge", alias, mtu, False)

    def add_vxlan(
        self, name: str, *, alias: str, vni: int, port: int, underlay: str, local: str, mtu: int
    ) -> None:
        self.state[name] = Link(
            name,
            len(self.state),
            "vxlan",
            alias,
            mtu,
            False,
            None,
            vni,
            port,
            local,
            underlay,
            False,
        )

    def set_link(self, name: str, **kw: Any) -> None:
        link = self.state[name]
        fields = {**link.__dict__}
        for key in ("mtu", "master", "alias"):
            if kw.get(key) is not None:
                fields[key] = kw[key]
        if kw.get("up") is not None:
            fields["up"] = kw["up"]
        self.state[name] = Link(**fields)

    def add_flood(self, name: str, remotes: Any) -> None:
        link = self.state[name]
        self.state[name] = Link(**{**link.__dict__, "flood": link.flood | frozenset(remotes)})

    def delete_flood(self, name: str, remotes: Any) -> None:
        link = self.state[name]
        self.state[name] = Link(**{**link.__dict__, "flood": link.flood - frozenset(remotes)})

    def delete(self, name: str) -> None:
        del self.state[name]


def test_converge_isolates_a_failing_network() -> None:
    fake = FakeNetlink()
    host = Host("h1", "192.0.2.1", "eth0")
    remotes = frozenset({"192.0.2.1", "192.0.2.2"})
    nets = [
        DesiredNetwork("ns", "a", 1, 10, 1450, remotes),
        DesiredNetwork("ns", "b", 1, 20, 1450, remotes),
    ]
    result = converge(cast(Netlink, fake), nets, host)
    assert result.networks["ns/a"].ready
    assert not result.networks["ns/b"].ready
    assert "File exists" in result.networks["ns/b"].message
    assert "g8vx10" in fake.state
    assert "g8vx20" not in fake.state
    again = converge(cast(Netlink, fake), nets[:1], host)
    assert again.applied == []
    assert again.networks["ns/a"].ready


@pytest.mark.parametrize(
    ("gateway", "subnet", "expected"),
    [
        ("198.19.128.1", "198.19.128.0/24", "198.19.128.1/24"),
        ("198.19.129.1", "198.19.128.0/24", ""),
        (None, "198.19.128.0/24", ""),
        ("198.19.128.1", "not-a-cidr", ""),
    ],
)
def test_gateway_cidr(gateway: object, subnet: object, expected: str) -> None:
    assert d.gateway_cidr(gateway, subnet) == expected
