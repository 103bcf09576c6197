"""The host agent's convergence on real network namespaces (needs root and iproute2).

Three simulated hosts (network namespaces joined by veth pairs to an
underlay bridge) each run ``converge`` through the real netlink adapter:

- every host gets a bridge and a VXLAN device per network, with flood entries
  to the two other hosts, and reports each network ready;
- a UDP exchange flows between two hosts inside one VNI, and does not cross to
  a host whose address sits on another VNI's bridge in the same subnet;
- converging again changes nothing;
- a device the agent did not create survives, and one whose name collides
  with the agent's is reported as a conflict, not touched;
- removing a network removes its devices on every host and leaves the others.
"""

from collections.abc import Iterator

import pytest

from operators.network import names
from operators.network.agent.converge import converge
from operators.network.agent.plan import DesiredNetwork, Host
from shared.netlink import Netlink
from tests.integration.network.hosts import (
    SimHost,
    attach_guest,
    hosts,
    in_netns,
    udp_exchange,
)

VNI_A, VNI_B, VNI_C = 100, 200, 300


@pytest.fixture
def three_hosts() -> Iterator[list[SimHost]]:
    with hosts(3) as made:
        yield made


GATEWAY_A = "198.19.250.1/24"


def network(name: str, vni: int, sims: list[SimHost], gateway: str = "") -> DesiredNetwork:
    return DesiredNetwork("ns", name, 1, vni, 1450, frozenset(s.vtep for s in sims), gateway)


def host_of(sim: SimHost) -> Host:
    return Host(sim.name, sim.vtep, sim.underlay)


def link_names(sim: SimHost) -> dict[str, str]:
    with Netlink(sim.netns) as netlink:
        return {link.name: link.alias for link in netlink.links()}


def converge_all(sims: list[SimHost], desired: list[DesiredNetwork]) -> list[int]:
    """Converge every host; the number of actions each applied."""
    applied = []
    for sim in sims:
        with Netlink(sim.netns) as netlink:
            result = converge(netlink, desired, host_of(sim))
        assert result.errors == {}, result.errors
        assert all(r.ready for r in result.networks.values()), result.networks
        applied.append(len(result.applied))
    return applied


def test_converge_isolate_remove(three_hosts: list[SimHost]) -> None:
    sims = three_hosts
    h1, h2, h3 = sims
    a, b = network("a", VNI_A, sims, GATEWAY_A), network("b", VNI_B, sims)
    in_netns(h1.netns, "ip", "link", "add", "foreign0", "type", "bridge")

    assert all(n > 0 for n in converge_all(sims, [a, b]))
    for sim in sims:
        with Netlink(sim.netns) as netlink:
            links = {link.name: link for link in netlink.links()}
        # The guests' gateway sits on the bridge of every host.
        assert links[names.bridge(VNI_A)].addresses == frozenset({GATEWAY_A})
        assert links[names.bridge(VNI_B)].addresses == frozenset()
        vx = links[names.vxlan(VNI_A)]
        assert vx.vni == VNI_A
        assert vx.port == 4789
        assert vx.local == sim.vtep
        assert vx.underlay == "u0"
        assert vx.master == names.bridge(VNI_A)
        assert vx.flood == frozenset(s.vtep for s in sims if s is not sim)
        assert links[names.bridge(VNI_B)].alias == names.alias("ns", "b")
        assert links[names.bridge(VNI_A)].up

    # Guests (VM stand-ins) of network a on hosts 1 and 2; the guest on host 3
    # has an address of the same subnet but sits on network b's bridge.
    g1 = attach_guest(h1, names.bridge(VNI_A), "10.50.0.1/24", "a1")
    g2 = attach_guest(h2, names.bridge(VNI_A), "10.50.0.2/24", "a2")
    g3 = attach_guest(h3, names.bridge(VNI_B), "10.50.0.3/24", "b3")
    assert udp_exchange(g1, g2, "10.50.0.2").startswith("hello-g8s 10.50.0.1")
    assert udp_exchange(g1, g3, "10.50.0.3") == "TIMEOUT"

    # Idempotent: a second pass applies nothing (the guests' ports included).
    assert converge_all(sims, [a, b]) == [0, 0, 0]

    # Removing network a removes its devices everywhere; b and foreign0 stay.
    converge_all(sims, [b])
    for sim in sims:
        present = link_names(sim)
        assert names.vxlan(VNI_A) not in present
        assert names.bridge(VNI_A) not in present
        assert names.vxlan(VNI_B) in present
    assert "foreign0" in link_names(h1)

    # Nothing desired: every device of ours goes, the foreign one stays.
    converge_all(sims, [])
    for sim in sims:
        assert not [n for n, alias in link_names(sim).items() if alias.startswith("g8s-network:")]
    assert "foreign0" in link_names(h1)


def test_foreign_device_with_our_name_is_a_conflict(three_hosts: list[SimHost]) -> None:
    h1 = three_hosts[0]
    squatter = names.bridge(VNI_C)
    in_netns(h1.netns, "ip", "link", "add", squatter, "type", "bridge")
    c = network("c", VNI_C, three_hosts)
    with Netlink(h1.netns) as netlink:
        result = converge(netlink, [c], host_of(h1))
        again = converge(netlink, [], host_of(h1))
    assert not result.networks["ns/c"].ready
    assert "not created by g8s" in result.networks["ns/c"].message
    assert result.applied == []
    assert again.applied == []
    links = link_names(h1)
    assert links[squatter] == ""
    assert names.vxlan(VNI_C) not in links
