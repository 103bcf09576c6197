"""An operator's memory: freed memory given back, and where the live memory is.

An operator parses many API answers at once while clusters are built (up to
its worker threads each); the C allocator keeps what they freed, so the
resident size stays at that peak although the live Python objects are a
tenth of it (measured with the trace below: 22 MiB traced in a 165 MiB
process). ``give_back`` returns the freed memory to the system now and then.


With ``G8S_HEAP_TRACE=<file>`` the process traces its allocations from the
start (``tracemalloc``, one frame each) and, on SIGUSR2, writes the largest
allocation sites to the file: by source line, then by module, each with its
size and count. Tracing slows the process and holds memory of its own, so it
is for a benchmark run (``bench.cluster --heap``), never for production.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import signal
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

TOP = 25
# How often freed memory is given back: a trim takes about a millisecond.
TRIM_INTERVAL = 30.0


@functools.cache
def libc() -> ctypes.CDLL | None:
    """The C library, loaded once (find_library may run ldconfig); None if not found."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name else None
    except OSError:
        return None


def libc_call(name: str) -> Any:
    """The C library's function ``name``; None where it has no such function."""
    return getattr(libc(), name, None)


def trim() -> bool:
    """Give the allocator's free memory back to the system (glibc's malloc_trim);
    False where the C library has no such call."""
    call = libc_call("malloc_trim")
    if call is None:
        return False
    call(0)
    return True


def give_back(interval: float = TRIM_INTERVAL) -> threading.Thread | None:
    """Trim every ``interval`` seconds in a thread of its own; None when trimming
    is not possible here."""
    if not trim():
        return None

    def loop() -> None:
        while True:
            threading.Event().wait(interval)
            trim()

    thread = threading.Thread(target=loop, name="g8s-trim", daemon=True)
    thread.start()
    return thread


def report(snapshot: tracemalloc.Snapshot, top: int = TOP) -> str:
    """The largest sites of ``snapshot``, by line and by file (pure)."""
    total = sum(stat.size for stat in snapshot.statistics("filename"))
    lines = [f"traced {total / 2**20:.1f} MiB"]
    for grouping in ("lineno", "filename"):
        lines.append(f"by {grouping}:")
        for stat in snapshot.statistics(grouping)[:top]:
            frame = stat.traceback[0]
            where = frame.filename if grouping == "filename" else f"{frame.filename}:{frame.lineno}"
            lines.append(f"  {stat.size / 2**20:8.2f} MiB {stat.count:9d}  {where}")
    return "\n".join(lines) + "\n"


def write_on_signal(signum: int, path: str, text: Callable[[], str]) -> None:
    """At each ``signum``, write ``text()`` to ``path``."""
    target = Path(path)

    def write(_signum: int, _frame: FrameType | None) -> None:
        partial = target.with_suffix(target.suffix + ".part")
        partial.write_text(text())
        partial.replace(target)  # a reader never sees half a report

    signal.signal(signum, write)


def trace(path: str) -> None:
    """Start tracing, and write a report to ``path`` at each SIGUSR2."""
    tracemalloc.start(1)

    def traced() -> str:
        snapshot = tracemalloc.take_snapshot().filter_traces(
            (tracemalloc.Filter(False, tracemalloc.__file__),)
        )
        return report(snapshot)

    write_on_signal(signal.SIGUSR2, path, traced)
