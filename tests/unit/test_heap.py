"""shared/heap.py: the report of where the memory is, and the signal that writes it."""

import inspect
import signal
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
