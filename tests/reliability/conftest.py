"""The reliability tier prints every scenario's summary line at the end of the run."""

from __future__ import annotations

import pytest

from tests.reliability.faults import SUMMARIES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SUMMARIES:
        terminalreporter.section("reliability summary")
        for line in SUMMARIES:
            terminalreporter.write_line(line)
