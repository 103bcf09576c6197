"""Allocation logic above the record store, with an in-memory store.

Covers: unique values under many concurrent allocations; values already held
(a restart) and values recorded in status are kept; requested values are
honoured and a conflict is an AllocationConflict retry, never another value;
overlapping requested subnets conflict block by block, all or nothing;
release frees values for reuse; exhaustion is PoolExhausted; a stale
"taken" hint is reloaded before giving up.
"""

import ipaddress
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from operators.network.allocation import (
    REASON_CONFLICT,
    REASON_EXHAUSTED,
    SUBNET,
    VNI,
    Allocator,
    Held,
    Owner,
    Pools,
    Taken,
    blocks,
    gateway,
)
from shared.errors import Retry

POOL = ipaddress.IPv4Network("10.100.0.0/16")


class MemoryStore:
    """Create-only records under a lock, as the API server keeps names unique."""

    def __init__(self) -> None:
        self.records: dict[str, Held] = {}
        self.lock = threading.Lock()
        self.creates = 0

    def create(self, kind: str, name: str, value: str, owner: Owner) -> bool:
        with self.lock:
            self.creates += 1
            if name in self.records:
                return False
            self.records[name] = Held(name, kind, value, owner.uid)
            return True

    def get(self, name: str) -> Held | None:
        return self.records.get(name)

    def held_by(self, uid: str) -> list[Held]:
        with self.lock:
            return [h for h in self.records.values() if h.owner_uid == uid]

    def names(self, kind: str) -> set[str]:
        with self.lock:
            return {h.name for h in self.records.values() if h.kind == kind}

    def delete(self, name: str) -> None:
        with self.lock:
            self.records.pop(name, None)


def allocator(
    store: MemoryStore, *, vnis: tuple[int, int] = (100, 60000), prefix: int = 24, seed: int = 1
) -> Allocator:
    return Allocator(store, Pools(vnis[0], vnis[1], POOL, prefix), random.Random(seed), 32)


def owner(n: int) -> Owner:
    return Owner("ns", f"n{n}", f"uid-{n}")


def net(text: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(text)


def test_concurrent_allocations_are_unique() -> None:
    store = MemoryStore()
    # One allocator per "replica", each with its own hint, racing on one store.
    replicas = [allocator(store, vnis=(100, 400), seed=s) for s in range(4)]

    def one(n: int) -> tuple[int, ipaddress.IPv4Network]:
        got = replicas[n % 4].allocate(
            owner(n), vni=None, recorded_vni=None, subnet=None, recorded_subnet=None
        )
        return got.vni, got.subnet

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(250)))
    assert len({v for v, _ in results}) == 250
    assert len({s for _, s in results}) == 250
    assert len(store.records) == 500


def test_held_values_survive_a_restart() -> None:
    store = MemoryStore()
    first = allocator(store).allocate(
        owner(1), vni=None, recorded_vni=None, subnet=None, recorded_subnet=None
    )
    # A new process (fresh hint, other random stream) before status was written.
    again = allocator(store, seed=99).allocate(
        owner(1), vni=None, recorded_vni=None, subnet=None, recorded_subnet=None
    )
    assert again == first
    assert len(store.records) == 2


def test_recorded_status_is_reclaimed_when_records_are_missing() -> None:
    store = MemoryStore()
    got = allocator(store).allocate(
        owner(1), vni=None, recorded_vni=4242, subnet=None, recorded_subnet=net("10.100.7.0/24")
    )
    assert (got.vni, got.subnet) == (4242, net("10.100.7.0/24"))
    assert set(store.records) == {"g8s-vni-4242", "g8s-subnet-10-100-7-0-24"}


def test_requested_values_are_honoured_even_outside_the_pool() -> None:
    store = MemoryStore()
    got = allocator(store).allocate(
        owner(1), vni=7, recorded_vni=None, subnet=net("192.168.4.0/24"), recorded_subnet=None
    )
    assert (got.vni, got.subnet) == (7, net("192.168.4.0/24"))


def test_requested_vni_held_by_another_is_a_conflict() -> None:
    store = MemoryStore()
    alloc = allocator(store)
    alloc.vni(owner(1), 500, None)
    with pytest.raises(Retry) as caught:
        alloc.vni(owner(2), 500, None)
    assert caught.value.reason == REASON_CONFLICT
    assert "500" in str(caught.value)
    assert store.records["g8s-vni-500"].owner_uid == "uid-1"
    assert alloc.vni(owner(1), 500, None) == 500


def test_overlapping_subnets_conflict_all_or_nothing() -> None:
    store = MemoryStore()
    alloc = allocator(store)
    alloc.subnet(owner(1), net("10.100.2.0/24"), None)
    # A /22 covering .0-.3 overlaps the /24 at .2: nothing of it is kept.
    with pytest.raises(Retry) as caught:
        alloc.subnet(owner(2), net("10.100.0.0/22"), None)
    assert caught.value.reason == REASON_CONFLICT
    assert store.held_by("uid-2") == []
    # A /28 inside a held block conflicts too.
    with pytest.raises(Retry):
        alloc.subnet(owner(3), net("10.100.2.16/28"), None)
    assert alloc.subnet(owner(2), net("10.100.4.0/22"), None) == net("10.100.4.0/22")
    assert len(store.held_by("uid-2")) == 4


def test_release_frees_values_for_reuse() -> None:
    store = MemoryStore()
    alloc = allocator(store)
    got = alloc.allocate(owner(1), vni=None, recorded_vni=None, subnet=None, recorded_subnet=None)
    released = alloc.release(owner(1))
    assert len(released) == 2
    assert store.records == {}
    again = alloc.allocate(
        owner(2), vni=got.vni, recorded_vni=None, subnet=got.subnet, recorded_subnet=None
    )
    assert again == got


def test_exhausted_pool_is_reported() -> None:
    store = MemoryStore()
    alloc = allocator(store, vnis=(10, 12))
    assert sorted(alloc.vni(owner(n), None, None) for n in range(3)) == [10, 11, 12]
    with pytest.raises(Retry) as caught:
        alloc.vni(owner(4), None, None)
    assert caught.value.reason == REASON_EXHAUSTED


def test_stale_hint_is_reloaded_before_giving_up() -> None:
    store = MemoryStore()
    hint = Taken()
    first = Allocator(store, Pools(10, 10, POOL, 24), random.Random(1), 4, hint)
    assert first.vni(owner(1), None, None) == 10
    # Another replica frees the value; this process's hint still has it.
    store.delete("g8s-vni-10")
    assert first.vni(owner(2), None, None) == 10


def test_blocks_and_gateway() -> None:
    assert blocks(net("10.1.2.16/28"), 24) == [net("10.1.2.0/24")]
    assert blocks(net("10.1.0.0/23"), 24) == [net("10.1.0.0/24"), net("10.1.1.0/24")]
    assert gateway(net("10.100.3.0/24")) == "10.100.3.1"
    assert {VNI, SUBNET} == {"vni", "subnet"}
