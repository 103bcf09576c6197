"""Listings one process shares between its ClusterNetworks' refreshes.

Every ClusterNetwork is refreshed every ``hosts_interval`` seconds, and each
refresh needs the host Nodes and the allocation records. Listed per network,
that is two listings of every Node and every record per network per interval:
at 1,000 networks, 130 listings a second that each walk every record. A
listing younger than ``ttl`` serves every refresh instead, so the cost no
longer grows with the number of networks. Only reads are served from it: a
refresh that finds anything to change allocates with reads of its own first
(``reconcile.confirm_allocation``).
"""

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Shared(Generic[T]):
    """The last result of ``load``, reused for ``ttl`` seconds by every worker.

    One worker loads while the others wait for its result: a burst of refreshes
    makes one listing, not one each.
    """

    def __init__(
        self, load: Callable[[], T], ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._load = load
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._value: T | None = None
        self._at = 0.0
        self.loads = 0

    def get(self) -> T:
        with self._lock:
            now = self._clock()
            if self._value is None or now - self._at >= self._ttl:
                self._value = self._load()
                self._at = now
                self.loads += 1
            return self._value
