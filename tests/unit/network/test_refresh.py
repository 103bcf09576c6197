"""The periodic refresh of ClusterNetworks: shared listings, and reads of its own only
when the listing shows something to change."""

import ipaddress
import random
from typing import Any, cast

from operators.network import names
from operators.network.allocation import SUBNET, VNI, Allocation, Allocator, Held, Pools, kept
from operators.network.context import NetworkSettings
from operators.network.listings import Shared
from operators.network.model import parse
from operators.network.reconcile import REFRESH_STEPS, Run
from shared.kube import Kube
from tests.unit.network.test_allocation import MemoryStore, net, owner

POOL = ipaddress.IPv4Network("10.100.0.0/16")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class CountingStore(MemoryStore):
    """The records, counting the listings by owner the allocator makes."""

    def __init__(self) -> None:
        super().__init__()
        self.owner_listings = 0

    def held_by(self, uid: str) -> list[Held]:
        self.owner_listings += 1
        return super().held_by(uid)

    def every(self) -> list[Held]:
        with self.lock:
            return list(self.records.values())


def network_body(n: int, vni: int | None, subnet: str | None) -> dict[str, Any]:
    who = owner(n)
    status = {k: v for k, v in (("vni", vni), ("subnet", subnet)) if v is not None}
    return {
        "metadata": {"name": who.name, "namespace": who.namespace, "uid": who.uid},
        "spec": {},
        "status": status,
    }


class Process:
    """One network operator's refreshes of many networks, with shared listings."""

    def __init__(self, store: CountingStore, clock: Clock, ttl: float = 5.0) -> None:
        self.store = store
        self.settings = NetworkSettings(subnet_pool=str(POOL), subnet_prefix=24)
        self.allocator = Allocator(store, Pools(100, 60000, POOL, 24), random.Random(1), 32)
        self.node_listings = 0
        self.host_nodes: Shared[list[str]] = Shared(self._nodes, ttl, clock)
        self.records: Shared[list[Held]] = Shared(store.every, ttl, clock)

    def _nodes(self) -> list[str]:
        self.node_listings += 1
        return ["h0", "h1"]

    def refresh(self, body: dict[str, Any]) -> Run:
        spec = parse(body)
        run = Run(
            spec,
            body,
            cast(Kube, None),
            self.settings,
            self.allocator,
            self.host_nodes,
            self.records,
        )
        for step in REFRESH_STEPS:
            step.run(run)
        return run


def allocated(store: CountingStore, count: int) -> list[dict[str, Any]]:
    allocator = Allocator(store, Pools(100, 60000, POOL, 24), random.Random(7), 32)
    bodies = []
    for n in range(count):
        got = allocator.allocate(
            owner(n), vni=None, recorded_vni=None, subnet=None, recorded_subnet=None
        )
        bodies.append(network_body(n, got.vni, str(got.subnet)))
    return bodies


def test_many_refreshes_within_the_ttl_make_one_listing_of_each() -> None:
    store, clock = CountingStore(), Clock()
    bodies = allocated(store, 20)
    process = Process(store, clock)
    before = dict(store.records)
    store.owner_listings = 0
    for body in bodies:
        run = process.refresh(body)
        assert run.allocation is not None
        assert run.allocation.vni == body["status"]["vni"]
        assert str(run.allocation.subnet) == body["status"]["subnet"]
        assert run.hosts is not None
        assert run.hosts.total == 2
    assert (process.node_listings, process.records.loads, store.owner_listings) == (1, 1, 0)
    assert store.records == before  # nothing written
    clock.now = 5.0
    process.refresh(bodies[0])
    assert (process.node_listings, process.records.loads) == (2, 2)


def test_a_network_missing_from_the_listing_allocates_with_its_own_reads() -> None:
    store, clock = CountingStore(), Clock()
    process = Process(store, clock)
    process.records.get()  # listed before the network was made
    (body,) = allocated(store, 1)
    store.owner_listings = 0
    run = process.refresh(body)
    assert store.owner_listings == 1
    assert run.allocation is not None
    assert run.allocation.vni == body["status"]["vni"]


def test_a_record_deleted_by_hand_is_made_again() -> None:
    store, clock = CountingStore(), Clock()
    (body,) = allocated(store, 1)
    vni_record = next(h.name for h in store.records.values() if h.kind == VNI)
    store.delete(vni_record)
    run = Process(store, clock).refresh(body)
    assert run.allocation is not None
    assert run.allocation.vni == body["status"]["vni"]
    assert vni_record in store.records


def keeps(held: list[Held], vni: int | None = None, recorded: bool = True) -> Allocation | None:
    return kept(
        held,
        vni=vni,
        recorded_vni=42,
        subnet=None,
        recorded_subnet=net("10.100.3.0/24") if recorded else None,
        prefix=24,
    )


def test_kept_only_when_exactly_the_asked_records_are_held() -> None:
    uid = owner(1).uid
    vni = Held(names.vni_record(42), VNI, "42", uid)
    block = Held(names.subnet_record(net("10.100.3.0/24")), SUBNET, "10.100.3.0/24", uid)
    got = keeps([vni, block])
    assert got is not None
    assert (got.vni, got.subnet) == (42, net("10.100.3.0/24"))
    assert keeps([vni]) is None
    assert keeps([vni, Held(names.vni_record(43), VNI, "43", uid), block]) is None
    # A new request, or nothing recorded yet, is the allocator's to see to.
    assert keeps([vni, block], vni=50) is None
    assert keeps([vni, block], recorded=False) is None
