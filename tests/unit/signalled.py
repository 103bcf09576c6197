"""Signal this process and wait for the report file its handler writes."""

import os
import time
from pathlib import Path


def signal_and_read(signum: int, out: Path, within: float = 5.0) -> str:
    """Send ``signum`` to this process; the text of ``out`` once it is written."""
    os.kill(os.getpid(), signum)
    deadline = time.monotonic() + within
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return out.read_text()
