"""A token bucket for one operator's requests to the API server (client-go's QPS and burst).

``burst`` requests may go at once; after that one more every ``1/qps``
seconds. It bounds what a runaway loop can do to a shared API server; the
defaults (``shared.settings.RuntimeSettings``) are above what an operator
sends while 100 clusters are built at once (docs/performance.md), so in
normal work it never makes a request wait. ``qps`` 0 turns it off.

Thread-safe: the operators send their requests from a thread pool. A waiting
thread sleeps outside the lock, on a slot reserved for it, so waiting
requests go in the order they came.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    qps: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    # Called with each request's wait and what it is ("GET Secret"), outside the lock.
    on_take: Callable[[float, str], None] | None = None
    # Seconds requests have waited for a token, in all.
    waited: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # When the next request would go if the bucket were empty (the "theoretical
    # arrival time" of the generic cell rate algorithm); up to burst - 1
    # intervals ahead of now, requests go at once.
    _next: float = field(default=float("-inf"), repr=False)

    def __post_init__(self) -> None:
        if self.qps < 0 or self.burst < 1:
            raise ValueError(f"qps must be >= 0 and burst >= 1 (got {self.qps}, {self.burst})")

    def delay(self) -> float:
        """Take a token; the seconds to wait before using it (0 while the burst lasts)."""
        if self.qps == 0:
            return 0.0
        interval = 1.0 / self.qps
        with self._lock:
            now = self.clock()
            due = max(self._next, now)
            goes = max(now, due - (self.burst - 1) * interval)
            self._next = due + interval
            wait = goes - now
            self.waited += wait
            return wait

    def take(self, what: str = "") -> None:
        """Wait, when needed, until request ``what`` may go."""
        wait = self.delay()
        if self.on_take is not None:
            self.on_take(wait, what)
        if wait > 0:
            self.sleep(wait)
