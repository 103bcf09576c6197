"""VNI and subnet allocation, collision-free through the API server's name uniqueness.

The design: every allocated value has an *allocation record*, an object whose
name is the value (``g8s-vni-4711``, ``g8s-subnet-10-100-3-0-24``), created
with create-only semantics in one namespace. The API server accepts exactly
one create per name, so two workers, or two operator replicas, can never hold
the same value: the loser gets a conflict and tries another candidate. Each
record carries the owner's UID (as a label), which is how a restarted
operator finds what a network already holds before it picks anything: it
never allocates twice. Records are deleted when their network is deleted
(finalizer), which frees the value.

Subnets are recorded per block of the pool's subnet size; a requested subnet
claims every block it overlaps, so overlapping requests of different sizes
conflict too.

``Allocator`` holds the procedure and talks to a ``RecordStore`` (the API
server in production, an in-memory store in unit tests).
"""

import ipaddress
import random
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from operators.network import names
from shared.errors import Retry

VNI = "vni"
SUBNET = "subnet"
REASON_CONFLICT = "AllocationConflict"
REASON_EXHAUSTED = "PoolExhausted"


@dataclass(frozen=True)
class Owner:
    namespace: str
    name: str
    uid: str


@dataclass(frozen=True)
class Held:
    """One record as the store returns it."""

    name: str
    kind: str
    value: str
    owner_uid: str


class RecordStore(Protocol):
    def create(self, kind: str, name: str, value: str, owner: Owner) -> bool:
        """Create the record; False if a record of that name exists (create-only)."""

    def get(self, name: str) -> Held | None: ...

    def held_by(self, uid: str) -> list[Held]: ...

    def names(self, kind: str) -> set[str]:
        """Names of every record of ``kind``."""

    def delete(self, name: str) -> None: ...


@dataclass(frozen=True)
class Pools:
    vni_min: int
    vni_max: int
    subnet_pool: ipaddress.IPv4Network
    subnet_prefix: int


@dataclass(frozen=True)
class Allocation:
    vni: int
    subnet: ipaddress.IPv4Network


def blocks(subnet: ipaddress.IPv4Network, prefix: int) -> list[ipaddress.IPv4Network]:
    """The record blocks ``subnet`` overlaps: the one containing it, or all it contains."""
    if subnet.prefixlen >= prefix:
        return [subnet.supernet(new_prefix=prefix)]
    return list(subnet.subnets(new_prefix=prefix))


def kept(
    held: Sequence[Held],
    *,
    vni: int | None,
    recorded_vni: int | None,
    subnet: ipaddress.IPv4Network | None,
    recorded_subnet: ipaddress.IPv4Network | None,
    prefix: int,
) -> Allocation | None:
    """The allocation of a network that holds exactly the records of the values it asks
    for (or, asking for none, has recorded) and nothing else: what ``Allocator.allocate``
    returns then, without a request. None when the allocator has something to do."""
    want_vni = vni if vni is not None else recorded_vni
    want_subnet = subnet if subnet is not None else recorded_subnet
    if want_vni is None or want_subnet is None:
        return None
    vnis = {h.name for h in held if h.kind == VNI}
    subnets = {h.name for h in held if h.kind == SUBNET}
    if vnis != {names.vni_record(want_vni)}:
        return None
    if subnets != {names.subnet_record(b) for b in blocks(want_subnet, prefix)}:
        return None
    return Allocation(want_vni, want_subnet)


def gateway(subnet: ipaddress.IPv4Network) -> str:
    """The VMs' gateway: the subnet's first host address."""
    return str(subnet.network_address + 1)


class Taken:
    """Record names known to be taken, per kind: a hint shared by one process's workers.

    It spares a list of every record per allocation; it is never trusted for
    uniqueness (the create-only record is). A value another replica freed
    stays in the hint until a pool seems exhausted, which reloads it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._names: dict[str, set[str]] = {}

    def snapshot(
        self, kind: str, load: Callable[[], set[str]], *, reload: bool = False
    ) -> set[str]:
        with self._lock:
            if reload or kind not in self._names:
                self._names[kind] = set(load())
            return set(self._names[kind])

    def add(self, kind: str, name: str) -> None:
        with self._lock:
            self._names.setdefault(kind, set()).add(name)

    def discard(self, kind: str, name: str) -> None:
        with self._lock:
            self._names.get(kind, set()).discard(name)


class Allocator:
    """Claims and releases values for one network at a time (thread-safe via the store)."""

    def __init__(
        self,
        store: RecordStore,
        pools: Pools,
        rng: random.Random,
        attempts: int,
        taken: Taken | None = None,
    ) -> None:
        self.store = store
        self.pools = pools
        self.rng = rng
        self.attempts = attempts
        self.taken = taken or Taken()

    def allocate(
        self,
        owner: Owner,
        *,
        vni: int | None,
        recorded_vni: int | None,
        subnet: ipaddress.IPv4Network | None,
        recorded_subnet: ipaddress.IPv4Network | None,
    ) -> Allocation:
        """Both values of one network, from what it holds, then its request, then the pools."""
        held = self.store.held_by(owner.uid)
        return Allocation(
            self.vni(owner, vni, recorded_vni, held),
            self.subnet(owner, subnet, recorded_subnet, held),
        )

    def _create(self, kind: str, name: str, value: str, owner: Owner) -> bool:
        created = self.store.create(kind, name, value, owner)
        # Taken either way: by us, or by whoever won the name.
        self.taken.add(kind, name)
        return created

    # --- VNI -----------------------------------------------------------------

    def vni(
        self,
        owner: Owner,
        requested: int | None,
        recorded: int | None,
        held_records: Sequence[Held] | None = None,
    ) -> int:
        if held_records is None:
            held_records = self.store.held_by(owner.uid)
        held = [int(h.value) for h in held_records if h.kind == VNI]
        wanted = requested if requested is not None else recorded
        if wanted is None and held:
            # Keep the value already in status if held, else the lowest.
            keep = min(held)
            self._release_vnis([v for v in held if v != keep])
            return keep
        if wanted is not None:
            if wanted not in held:
                self._claim_vni(owner, wanted)
            self._release_vnis([v for v in held if v != wanted])
            return wanted
        return self._allocate_vni(owner)

    def _claim_vni(self, owner: Owner, vni: int) -> None:
        name = names.vni_record(vni)
        if self._create(VNI, name, str(vni), owner):
            return
        holder = self.store.get(name)
        if holder is not None and holder.owner_uid == owner.uid:
            return
        raise Retry(
            REASON_CONFLICT,
            f"VNI {vni} is held by another network ({name}); not changed to another value",
            delay=60.0,
        )

    def _allocate_vni(self, owner: Owner) -> int:
        for reload in (False, True):
            taken = {
                name.removeprefix(names.VNI_RECORD_PREFIX)
                for name in self.taken.snapshot(VNI, lambda: self.store.names(VNI), reload=reload)
            }
            for _ in range(self.attempts):
                candidate = self._pick_vni(taken)
                if candidate is None:
                    break
                if self._create(VNI, names.vni_record(candidate), str(candidate), owner):
                    return candidate
                taken.add(str(candidate))
        raise Retry(REASON_EXHAUSTED, "no free VNI in the pool after retries", delay=None)

    def _pick_vni(self, taken: set[str]) -> int | None:
        # Random draws spread concurrent workers over the pool, so they rarely
        # race for the same name; a scan finds the last free values.
        for _ in range(16):
            candidate = self.rng.randint(self.pools.vni_min, self.pools.vni_max)
            if str(candidate) not in taken:
                return candidate
        for candidate in range(self.pools.vni_min, self.pools.vni_max + 1):
            if str(candidate) not in taken:
                return candidate
        return None

    # --- subnet --------------------------------------------------------------

    def subnet(
        self,
        owner: Owner,
        requested: ipaddress.IPv4Network | None,
        recorded: ipaddress.IPv4Network | None,
        held_records: Sequence[Held] | None = None,
    ) -> ipaddress.IPv4Network:
        prefix = self.pools.subnet_prefix
        if held_records is None:
            held_records = self.store.held_by(owner.uid)
        held = {h.name for h in held_records if h.kind == SUBNET}
        wanted = requested if requested is not None else recorded
        if wanted is None and held:
            keep = sorted(held)[0]
            self._release_names([n for n in held if n != keep])
            return _subnet_of(self.store.get(keep))
        if wanted is not None:
            needed = [names.subnet_record(b) for b in blocks(wanted, prefix)]
            self._claim_blocks(owner, wanted, needed, held)
            self._release_names([n for n in held if n not in needed])
            return wanted
        return self._allocate_subnet(owner)

    def _claim_blocks(
        self, owner: Owner, subnet: ipaddress.IPv4Network, needed: Sequence[str], held: set[str]
    ) -> None:
        claimed: list[str] = []
        for name in needed:
            if name in held or self._create(SUBNET, name, str(subnet), owner):
                claimed.append(name)
                continue
            holder = self.store.get(name)
            if holder is not None and holder.owner_uid == owner.uid:
                continue
            # All or nothing: give back what this attempt took.
            self._release_names([n for n in claimed if n not in held])
            raise Retry(
                REASON_CONFLICT,
                f"subnet {subnet} overlaps {holder.value if holder else name}, held by another "
                "network; not changed to another value",
                delay=60.0,
            )

    def _allocate_subnet(self, owner: Owner) -> ipaddress.IPv4Network:
        pool = [
            (names.subnet_record(block), block)
            for block in self.pools.subnet_pool.subnets(new_prefix=self.pools.subnet_prefix)
        ]
        for reload in (False, True):
            taken = self.taken.snapshot(SUBNET, lambda: self.store.names(SUBNET), reload=reload)
            for _ in range(self.attempts):
                free = [(name, block) for name, block in pool if name not in taken]
                if not free:
                    break
                name, candidate = self.rng.choice(free)
                if self._create(SUBNET, name, str(candidate), owner):
                    return candidate
                taken.add(name)
        raise Retry(REASON_EXHAUSTED, "no free subnet in the pool after retries", delay=None)

    # --- release -------------------------------------------------------------

    def release(self, owner: Owner) -> list[str]:
        """Delete every record ``owner`` holds; the names released."""
        held = self.store.held_by(owner.uid)
        self._release_names([h.name for h in held])
        return sorted(h.name for h in held)

    def _release_vnis(self, values: Iterable[int]) -> None:
        self._release_names([names.vni_record(v) for v in values])

    def _release_names(self, record_names: Iterable[str]) -> None:
        for name in record_names:
            self.store.delete(name)
            kind = VNI if name.startswith(names.VNI_RECORD_PREFIX) else SUBNET
            self.taken.discard(kind, name)


def _subnet_of(held: Held | None) -> ipaddress.IPv4Network:
    if held is None:
        raise Retry("AllocationChanged", "an allocation record vanished; looking again", 1.0)
    return ipaddress.IPv4Network(held.value)
