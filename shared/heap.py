"""Where an operator's memory is: a diagnostic for memory that grows with clusters.

With ``G8S_HEAP_TRACE=<file>`` the process traces its allocations from the
start (``tracemalloc``, one frame each) and, on SIGUSR2, writes the largest
allocation sites to the file: by source line, then by module, each with its
size and count. Tracing slows the process and holds memory of its own, so it
is for a benchmark run (``bench.cluster --heap``), never for production.
"""

from __future__ import annotations

import signal
import tracemalloc
from pathlib import Path
from types import FrameType

TOP = 25


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


def trace(path: str) -> None:
    """Start tracing, and write a report to ``path`` at each SIGUSR2."""
    tracemalloc.start(1)
    target = Path(path)

    def write(_signum: int, _frame: FrameType | None) -> None:
        snapshot = tracemalloc.take_snapshot().filter_traces(
            (tracemalloc.Filter(False, tracemalloc.__file__),)
        )
        partial = target.with_suffix(target.suffix + ".part")
        partial.write_text(report(snapshot))
        partial.replace(target)  # a reader never sees half a report

    signal.signal(signal.SIGUSR2, write)
