"""shared/heap.py: the report of where the memory is, the signal that writes it,
freed memory given back and malloc's arenas limited."""

import inspect
import os
import signal
import subprocess
import sys
import tracemalloc
from pathlib import Path

from shared import heap
from tests.unit.signalled import signal_and_read


def test_the_report_names_the_line_that_holds_the_most() -> None:
    tracemalloc.start(1)
    try:
        line = inspect.currentframe().f_lineno + 1  # type: ignore[union-attr]
        held = [bytes(1024) for _ in range(2000)]  # about 2 MiB on this line
        text = heap.report(tracemalloc.take_snapshot(), top=5)
    finally:
        tracemalloc.stop()
    assert len(held) == 2000
    by_line = text.split("by filename:")[0]
    first = by_line.splitlines()[2]
    assert first.endswith(f"{__file__}:{line}"), text
    assert float(first.split()[0]) >= 1.9


def test_sigusr2_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "operator.heap"
    before = signal.getsignal(signal.SIGUSR2)
    try:
        heap.trace(str(out))
        text = signal_and_read(signal.SIGUSR2, out)
    finally:
        tracemalloc.stop()
        signal.signal(signal.SIGUSR2, before)
    assert text.startswith("traced ")
    assert not out.with_suffix(".heap.part").exists()


def test_freed_memory_is_given_back_where_the_c_library_can() -> None:
    # This machine's C library is glibc: trimming must work here.
    assert heap.trim()
    thread = heap.give_back(interval=0.01)
    assert thread is not None
    assert thread.is_alive()
    assert thread.daemon  # never holds the process up at exit


ARENAS_SCRIPT = """
import sys, threading
from shared import heap
limited = heap.limit_arenas(int(sys.argv[1])) if sys.argv[1] != "none" else False
def work():
    keep = []
    for i in range(20000):
        keep.append(bytearray(1000 + i % 500))
        if len(keep) > 100:
            keep.pop(0)
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
import ctypes
libc = heap.libc()
libc.fdopen.restype = ctypes.c_void_p
out = ctypes.c_void_p(libc.fdopen(1, b"w"))
libc.malloc_info(0, out)
libc.fflush(out)
print(limited, file=sys.stderr)
"""


def heaps(arg: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """How many malloc arenas a process with eight busy threads ends with
    (glibc's malloc_info), and what ``limit_arenas`` answered."""
    done = subprocess.run(
        [sys.executable, "-c", ARENAS_SCRIPT, arg],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2]), **(env or {})},
    )
    return done.stdout.count("<heap nr="), done.stderr.strip()


def test_malloc_arenas_are_limited_unless_the_environment_says() -> None:
    assert heaps("1") == (1, "True")
    assert heaps("2")[0] <= 2
    # MALLOC_ARENA_MAX set by whoever runs the operator wins.
    assert heaps("1", {"MALLOC_ARENA_MAX": "3"})[1] == "False"
