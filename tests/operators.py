"""Run g8s operators as real processes (``python -m operators.<name>``) in tests.

The operator talks to the test environment's API server through KUBECONFIG;
its JSON log is kept in a file and printed when a test using it fails, so a
failure shows what the operator saw.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tests.localenv import OPERATOR_SETTINGS

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


@dataclass
class RunningOperator:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def running_operator(
    name: str, *, env: Mapping[str, str], namespace: str, log_dir: Path, module: str = ""
) -> Iterator[RunningOperator]:
    """Start operator ``name`` watching ``namespace``; stop it (SIGTERM) on exit.

    It gets the local environment's operator settings, then ``env`` on top.
    """
    log_path = log_dir / f"{name}.log"
    environ = {
        **os.environ,
        **OPERATOR_SETTINGS,
        **env,
        "G8S_NAMESPACES": namespace,
        "G8S_LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
    }
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", module or f"operators.{name}"],
            cwd=ROOT,
            env=environ,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        running = RunningOperator(name, process, log_path)
        try:
            yield running
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def wait_for(
    probe: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.5
) -> T:
    """Poll ``probe`` until it returns something other than None or False."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last is not None and last is not False:
            return last
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def settled(read: Callable[[], T], *, quiet: float, timeout: float, what: str) -> T:
    """Poll ``read`` until its value has stayed the same for ``quiet`` seconds; that value."""
    deadline = time.monotonic() + timeout
    value = read()
    since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(min(0.5, quiet))
        now = read()
        if now != value:
            value, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return value
    raise TimeoutError(f"{what} still changing after {timeout:.0f}s (last: {value!r})")


def is_ready(body: Mapping[str, Any]) -> bool:
    """Whether a g8s object's ``Ready`` condition is True."""
    conditions = (body.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
