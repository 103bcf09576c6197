"""Pure decisions: node addresses, API endpoint, MAC, pod sizing, drain decisions, ports."""

import ipaddress

import pytest

from operators.kvm import policies
from shared.errors import InvalidSpec
from tests.unit.kvm.helpers import spec

SUBNET = ipaddress.IPv4Network("10.100.3.0/24")


def test_addresses_by_role_and_index() -> None:
    assert str(policies.node_address(spec("controlplane", index=0), SUBNET)) == "10.100.3.10"
    assert str(policies.node_address(spec("controlplane", index=2), SUBNET)) == "10.100.3.12"
    assert str(policies.node_address(spec("worker", index=0), SUBNET)) == "10.100.3.50"
    assert str(policies.node_address(spec("worker", index=7), SUBNET)) == "10.100.3.57"


def test_address_outside_subnet_is_refused() -> None:
    with pytest.raises(InvalidSpec, match="outside subnet"):
        policies.node_address(spec("worker", index=205), SUBNET)
    with pytest.raises(InvalidSpec, match="control-plane index"):
        policies.node_address(spec("controlplane", index=40), SUBNET)


def test_a_subnet_of_64_or_more_keeps_the_wide_layout() -> None:
    wide = ipaddress.IPv4Network("10.100.3.0/26")
    assert str(policies.node_address(spec("controlplane", index=0), wide)) == "10.100.3.10"
    assert str(policies.node_address(spec("worker", index=0), wide)) == "10.100.3.50"


@pytest.mark.parametrize(
    ("prefix", "control_planes", "workers"),
    [(27, 4, 25), (28, 2, 11), (29, 1, 4)],
)
def test_a_small_subnet_starts_after_the_gateway(
    prefix: int, control_planes: int, workers: int
) -> None:
    # The benchmark's /27s: 1,024 clusters in a /17, each with room for 1 + 2.
    small = ipaddress.IPv4Network(f"10.100.3.0/{prefix}")
    gateway, broadcast = small.network_address + 1, small.broadcast_address
    addresses = [
        policies.node_address(spec("controlplane", index=i), small) for i in range(control_planes)
    ] + [policies.node_address(spec("worker", index=i), small) for i in range(workers)]
    assert len(set(addresses)) == control_planes + workers
    assert all(gateway < a < broadcast for a in addresses)
    assert addresses[0] == policies.controlplane_address(small)
    with pytest.raises(InvalidSpec, match="control-plane index"):
        policies.node_address(spec("controlplane", index=control_planes), small)
    with pytest.raises(InvalidSpec, match="outside subnet"):
        policies.node_address(spec("worker", index=workers), small)
    # Every other node's pod routes stay inside the subnet's hosts.
    routes = policies.peer_routes(spec("worker", index=0), small)
    assert len(routes) == control_planes + workers - 1
    assert {ipaddress.IPv4Address(via) for _, via in routes} <= set(addresses)


def test_api_endpoint_default_and_override() -> None:
    assert policies.api_endpoint(spec()) == "https://demo-apiserver.ns.svc:6443"
    assert policies.api_endpoint(spec(apiEndpoint="https://api:443")) == "https://api:443"


def test_pod_subnets_follow_node_addresses() -> None:
    worker = spec("worker")  # index 1: offset 51
    assert str(policies.node_pod_subnet(worker, SUBNET)) == "10.2.51.0/24"
    routes = dict(policies.peer_routes(worker, SUBNET))
    assert routes["10.2.10.0/24"] == "10.100.3.10"
    assert "10.2.51.0/24" not in routes
    # Every node this subnet can hold, from the first control plane to .254.
    assert len(routes) == 254 - 10
    with pytest.raises(InvalidSpec, match="too small"):
        policies.node_pod_subnet(spec("worker", podCIDR="10.2.0.0/24"), SUBNET)


def test_mac_is_stable_unicast_local() -> None:
    mac = policies.mac_address(spec())
    assert mac == policies.mac_address(spec())
    assert mac != policies.mac_address(spec("controlplane"))
    first = int(mac.split(":")[0], 16)
    assert first & 0x01 == 0
    assert first & 0x02 == 0x02
    assert len(mac.split(":")) == 6


def test_resources_include_qemu_overhead() -> None:
    res = policies.pod_resources(
        spec(cpus=3, memoryMiB=2048), overhead_mib=256, overhead_millicpu=250
    )
    assert res == policies.Resources(cpu="3250m", memory="2304Mi")


def test_an_allocation_ratio_overcommits_cpu_not_memory() -> None:
    res = policies.pod_resources(spec(cpus=1, memoryMiB=1024), 256, 250, cpu_allocation_ratio=5)
    assert res == policies.Resources(cpu="1250m", memory="1280Mi", cpu_request="250m")


def test_ready_port_in_range_and_stable() -> None:
    port = policies.ready_port(spec())
    assert policies.READY_PORT_BASE <= port < policies.READY_PORT_BASE + policies.READY_PORT_RANGE
    assert port == policies.ready_port(spec())


def test_drain_decisions() -> None:
    done = policies.drain_decision(0, 0, 5, 60)
    assert (done.done, done.timed_out, done.reason) == (True, False, "Drained")
    waiting = policies.drain_decision(2, 1, 5, 60)
    assert (waiting.done, waiting.reason) == (False, "Draining")
    assert "1 held by a PodDisruptionBudget" in waiting.message
    timeout = policies.drain_decision(2, 1, 60, 60)
    assert (timeout.done, timeout.timed_out, timeout.reason) == (True, True, "DrainTimeout")
    assert "drain timeout 60s reached" in timeout.message
    lost = policies.drain_decision(0, 0, 10, 60, unreachable="connection refused")
    assert (lost.done, lost.reason) == (False, "GuestUnreachable")
    gone = policies.drain_decision(0, 0, 61, 60, unreachable="connection refused")
    assert (gone.done, gone.timed_out, gone.reason) == (True, True, "GuestUnreachable")
