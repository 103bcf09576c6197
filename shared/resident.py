"""Where an operator's resident memory is, without tracing it.

The resident size of an operator is far above its live Python objects (a
heap trace found 16 MiB of objects in a 150 MiB process), and which allocator
holds the rest decides what can lower it: pages of shared libraries, glibc's
heap (which ``malloc_trim`` can give back), or Python's object arenas
(pymalloc gives an arena of 1 MiB back only when every object in it is gone).
``breakdown`` reads all three from the process itself: ``/proc/self``
(resident, file-backed, anonymous), glibc's ``mallinfo2`` and pymalloc's own
statistics. It takes milliseconds and changes nothing, so unlike the heap
trace it can be asked of a process built at full speed.

With ``G8S_MEMORY_REPORT=<file>`` the process writes the breakdown to the file
on SIGUSR1, then again after a full garbage collection: what that frees was
held only by reference cycles, waiting for the collector's oldest generation.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import gc
import os
import re
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from shared import heap

MIB = 2**20


@dataclasses.dataclass(frozen=True)
class Breakdown:
    """Bytes, except ``threads``; -1 where this system does not tell."""

    resident: int
    files: int  # pages of mapped files: the interpreter and the libraries
    anonymous: int
    # What glibc's malloc took from the system (arenas + mmapped chunks); its
    # free pages may be given back (shared.heap trims), so not all resident.
    c_heap: int
    c_used: int  # of it, handed out to callers
    object_arenas: int  # pymalloc's arenas, in the anonymous memory
    objects: int  # of them, in blocks a live object holds
    threads: int  # of the system, not only Python's
    # After a full garbage collection (``collected``: how many objects it
    # freed), if one was asked for: objects only cycles kept alive.
    collected: int = -1
    objects_after: int = -1
    object_arenas_after: int = -1

    def describe(self) -> str:
        """One line of MiB (pure)."""

        def mib(value: int) -> str:
            return "?" if value < 0 else f"{value / MIB:.1f}"

        return (
            f"resident {mib(self.resident)} MiB: files {mib(self.files)}, "
            f"anonymous {mib(self.anonymous)}; "
            f"malloc holds {mib(self.c_heap)} (in use {mib(self.c_used)}); "
            f"object arenas {mib(self.object_arenas)} (objects {mib(self.objects)}); "
            f"threads {self.threads}"
            + (
                f"; a full collection freed {self.collected} objects: object arenas "
                f"{mib(self.object_arenas_after)} (objects {mib(self.objects_after)})"
                if self.collected >= 0
                else ""
            )
        )


_ROLLUP = re.compile(r"^(\w+):\s+(\d+) kB$", re.MULTILINE)


def parse_rollup(text: str) -> dict[str, int]:
    """The byte counts of ``/proc/<pid>/smaps_rollup`` by field name (pure)."""
    return {name: int(kib) * 1024 for name, kib in _ROLLUP.findall(text)}


def _number(text: str, pattern: str) -> int:
    found = re.search(pattern, text, re.MULTILINE)
    return int(found.group(1).replace(",", "")) if found else -1


def parse_pymalloc(text: str) -> tuple[int, int]:
    """(bytes in object arenas, bytes in allocated blocks) from the text of
    ``sys._debugmallocstats`` (pure); -1 for what it does not say."""
    arenas = _number(text, r"^\d+ arenas \* \d+ bytes/arena\s+=\s+([\d,]+)$")
    allocated = _number(text, r"^# bytes in allocated blocks\s+=\s+([\d,]+)$")
    return arenas, allocated


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


@functools.cache
def _mallinfo2() -> Any:
    call = heap.libc_call("mallinfo2")  # None: not glibc, or a glibc before 2.33
    if call is not None:
        call.restype = _MallInfo2
    return call


def c_heap() -> tuple[int, int]:
    """(bytes glibc holds, bytes of them in use); (-1, -1) without glibc."""
    call = _mallinfo2()
    if call is None:
        return -1, -1
    info = call()
    return info.arena + info.hblkhd, info.uordblks + info.hblkhd


_capture = threading.Lock()


def pymalloc_text() -> str:
    """What ``sys._debugmallocstats`` writes to the C stderr.

    It has no other output, so stderr is pointed at a file for the call. A log
    line another thread writes meanwhile lands there too: every JSON line (the
    operators log JSON in pods and in the benchmark; the allocator's lines
    never start with "{") is written to stderr again. A console-format line
    written in that millisecond stays in the report.
    """
    with _capture, tempfile.TemporaryFile() as out:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(out.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        text = out.read().decode(errors="replace")
    stray = [line for line in text.splitlines(keepends=True) if line.startswith("{")]
    if stray:
        sys.stderr.write("".join(stray))
        sys.stderr.flush()
    return text


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:  # not Linux
        return ""


def breakdown(collect: bool = False) -> Breakdown:
    """This process's resident memory by what holds it; ``collect``: then also
    the object arenas after a full garbage collection (which frees what only
    reference cycles held, so the process is changed by the asking)."""
    rollup = parse_rollup(_read("/proc/self/smaps_rollup"))
    resident = rollup.get("Rss", -1)
    anonymous = rollup.get("Anonymous", -1)
    files = resident - anonymous if resident >= 0 and anonymous >= 0 else -1
    held, used = c_heap()
    arenas, objects = parse_pymalloc(pymalloc_text())
    collected, arenas_after, objects_after = -1, -1, -1
    if collect:
        collected = gc.collect()
        arenas_after, objects_after = parse_pymalloc(pymalloc_text())
    return Breakdown(
        resident=resident,
        files=files,
        anonymous=anonymous,
        c_heap=held,
        c_used=used,
        object_arenas=arenas,
        objects=objects,
        threads=_number(_read("/proc/self/status"), r"^Threads:\s+(\d+)$"),
        collected=collected,
        objects_after=objects_after,
        object_arenas_after=arenas_after,
    )


def report_on_signal(path: str, signum: int = signal.SIGUSR1) -> None:
    """Write ``breakdown(collect=True).describe()`` to ``path`` at each ``signum``."""
    heap.write_on_signal(signum, path, lambda: breakdown(collect=True).describe() + "\n")
