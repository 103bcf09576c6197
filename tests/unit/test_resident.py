"""shared/resident.py: where the resident memory is, read from the process itself."""

import gc
import os
import signal
import sys
from pathlib import Path

import pytest

from shared import resident
from tests.unit.signalled import signal_and_read

PYMALLOC = """\
Small block threshold = 512, in 32 size classes.

class   size   num pools   blocks in use  avail blocks
-----   ----   ---------   -------------  ------------
    0     16           1             120           904

# arenas allocated total           =                   47
# arenas allocated current         =                   47
47 arenas * 1048576 bytes/arena    =           49,283,072

# bytes in allocated blocks        =           25,152,624
# bytes in available blocks        =           22,652,240
Total                              =           49,283,072
"""


def test_pymalloc_statistics_give_the_arenas_and_the_live_blocks() -> None:
    assert resident.parse_pymalloc(PYMALLOC) == (49_283_072, 25_152_624)


def test_statistics_that_say_nothing_give_minus_one() -> None:
    assert resident.parse_pymalloc("") == (-1, -1)


def test_rollup_fields_are_bytes() -> None:
    text = "55d0-7ffd ---p 00000000 00:00 0   [rollup]\nRss:  153600 kB\nAnonymous:  122880 kB\n"
    assert resident.parse_rollup(text) == {"Rss": 150 * 2**20, "Anonymous": 120 * 2**20}


def test_this_process_is_broken_down_by_what_holds_it() -> None:
    held = [{"n": n} for n in range(200_000)]  # tens of MiB of small objects
    found = resident.breakdown()
    assert len(held) == 200_000
    # This machine is Linux with glibc and CPython's pymalloc: every part is known.
    assert found.resident > 0
    assert found.files > 0
    assert found.files + found.anonymous == found.resident
    assert 0 < found.c_used <= found.c_heap
    assert 0 < found.objects <= found.object_arenas
    assert found.object_arenas >= 20 * 2**20  # the dicts above live in the arenas
    assert found.threads >= 1
    assert found.describe().startswith("resident ")


def test_a_full_collection_frees_what_only_cycles_held() -> None:
    gc.collect()
    gc.disable()  # the cycles below must wait for the asked-for collection
    try:
        for _ in range(50_000):
            node: dict[str, object] = {"padding": list(range(4))}
            node["self"] = node  # a reference cycle: only the collector frees it
        del node
        found = resident.breakdown(collect=True)
    finally:
        gc.enable()
    assert found.collected >= 50_000
    assert 0 < found.objects_after < found.objects
    assert "a full collection freed" in found.describe()


def test_a_log_line_written_while_stderr_is_captured_is_not_lost(
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = sys._debugmallocstats

    def with_a_log_line() -> None:
        os.write(2, b'{"event": "a line of another thread"}\n')
        real()

    monkeypatch.setattr(sys, "_debugmallocstats", with_a_log_line)
    text = resident.pymalloc_text()
    assert "bytes in allocated blocks" in text
    assert '{"event": "a line of another thread"}' in capfd.readouterr().err


def test_sigusr1_writes_the_breakdown(tmp_path: Path) -> None:
    out = tmp_path / "operator.memory"
    before = signal.getsignal(signal.SIGUSR1)
    try:
        resident.report_on_signal(str(out))
        text = signal_and_read(signal.SIGUSR1, out)
    finally:
        signal.signal(signal.SIGUSR1, before)
    assert text.startswith("resident ")
    assert not out.with_suffix(".memory.part").exists()
