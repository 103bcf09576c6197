"""The agent's pure convergence plan: desired networks vs observed links -> ordered actions.

Covers: a fresh host gets bridge, VXLAN device, enslavement and flood entries
in that order; a converged host plans nothing (idempotence); devices of
vanished networks are deleted, VXLAN first; devices without the g8s alias are
never touched and a name collision is a conflict; a VXLAN device whose VNI
or endpoint changed is replaced; flood entries follow the host list; MTU and
state drift are corrected in place.
"""

from operators.network import names
from operators.network.agent.plan import (
    AddAddress,
    AddBridge,
    AddFlood,
    AddVxlan,
    DeleteFlood,
    DeleteLink,
    DesiredNetwork,
    Host,
    SetLink,
    plan,
)
from shared.netlink import Link

HOST = Host("h1", "192.0.2.1", "eth0")
REMOTES = frozenset({"192.0.2.1", "192.0.2.2", "192.0.2.3"})
NET = DesiredNetwork("ns", "c1", 1, 42, 1450, REMOTES)
ALIAS = names.alias("ns", "c1")


def bridge(name: str = "g8br42", alias: str = ALIAS, **kw: object) -> Link:
    fields: dict[str, object] = {
        "index": 10,
        "kind": "bridge",
        "alias": alias,
        "mtu": 1450,
        "up": True,
    }
    fields.update(kw)
    return Link(name=name, **fields)  # type: ignore[arg-type]


def vxlan(name: str = "g8vx42", alias: str = ALIAS, **kw: object) -> Link:
    fields: dict[str, object] = {
        "index": 11,
        "kind": "vxlan",
        "alias": alias,
        "mtu": 1450,
        "up": True,
        "master": "g8br42",
        "vni": 42,
        "port": 4789,
        "local": "192.0.2.1",
        "underlay": "eth0",
        "learning": False,
        "flood": frozenset({"192.0.2.2", "192.0.2.3"}),
    }
    fields.update(kw)
    return Link(name=name, **fields)  # type: ignore[arg-type]


def test_fresh_host_gets_everything_in_order() -> None:
    result = plan([NET], [], HOST)
    assert result.actions == (
        AddBridge("ns/c1", "g8br42", ALIAS, 1450),
        SetLink("ns/c1", "g8br42", up=True),
        AddVxlan("ns/c1", "g8vx42", ALIAS, 42, 4789, "eth0", "192.0.2.1", 1450),
        SetLink("ns/c1", "g8vx42", master="g8br42", up=True),
        # Never a flood entry to itself.
        AddFlood("ns/c1", "g8vx42", ("192.0.2.2", "192.0.2.3")),
    )
    assert result.conflicts == {}


def test_converged_host_plans_nothing() -> None:
    assert plan([NET], [bridge(), vxlan()], HOST).actions == ()


def test_vanished_network_is_removed_vxlan_first_and_foreign_devices_stay() -> None:
    links = [
        bridge(),
        vxlan(),
        Link(name="eth0", index=2, kind="veth", alias="", mtu=1500, up=True),
        Link(name="docker0", index=3, kind="bridge", alias="", mtu=1500, up=True),
    ]
    assert plan([], links, HOST).actions == (
        DeleteLink("ns/c1", "g8vx42"),
        DeleteLink("ns/c1", "g8br42"),
    )


def test_name_collision_with_a_foreign_device_is_a_conflict() -> None:
    result = plan([NET], [bridge(alias="")], HOST)
    assert result.actions == ()
    assert "g8br42" in result.conflicts["ns/c1"]
    assert "not created by g8s" in result.conflicts["ns/c1"]


def test_changed_vni_or_endpoint_replaces_the_vxlan_device() -> None:
    for drift in ({"vni": 43}, {"local": "192.0.2.9"}, {"port": 8472}, {"learning": True}):
        actions = plan([NET], [bridge(), vxlan(**drift)], HOST).actions
        assert actions[0] == DeleteLink("ns/c1", "g8vx42"), drift
        assert isinstance(actions[1], AddVxlan)
        assert actions[-1] == AddFlood("ns/c1", "g8vx42", ("192.0.2.2", "192.0.2.3"))


def test_flood_entries_follow_the_hosts() -> None:
    gone = DesiredNetwork("ns", "c1", 1, 42, 1450, frozenset({"192.0.2.1", "192.0.2.4"}))
    assert plan([gone], [bridge(), vxlan()], HOST).actions == (
        AddFlood("ns/c1", "g8vx42", ("192.0.2.4",)),
        DeleteFlood("ns/c1", "g8vx42", ("192.0.2.2", "192.0.2.3")),
    )


def test_drift_is_corrected_in_place() -> None:
    actions = plan([NET], [bridge(mtu=1500, up=False), vxlan(master=None, mtu=1400)], HOST).actions
    assert actions == (
        SetLink("ns/c1", "g8br42", mtu=1450, up=True),
        SetLink("ns/c1", "g8vx42", mtu=1450, master="g8br42"),
    )


def test_device_names_fit_the_kernel_limit() -> None:
    assert len(names.bridge(2**24 - 1)) <= 15
    assert len(names.vxlan(2**24 - 1)) <= 15


def test_the_bridge_gets_the_guests_gateway_once() -> None:
    net = DesiredNetwork("ns", "c1", 1, 42, 1450, REMOTES, gateway="198.19.128.1/24")
    fresh = plan([net], [], HOST)
    assert AddAddress(net.key, "g8br42", "198.19.128.1/24") in fresh.actions
    lacking = plan([net], [bridge(), vxlan()], HOST)
    assert lacking.actions == (AddAddress(net.key, "g8br42", "198.19.128.1/24"),)
    present = plan([net], [bridge(addresses=frozenset({"198.19.128.1/24"})), vxlan()], HOST)
    assert present.actions == ()
