"""Where the kube-apiserver spends its CPU: its own Go profiler, asked over the API.

The API server is the busiest process while many clusters are built or
deleted (about half of the machine), so the operators' request counts only
say what is asked, not what each kind of request costs. The server serves
Go's CPU profile at ``/debug/pprof/profile`` (``--profiling``, on by
default) to a client allowed ``get`` on that path: the benchmark's admin.
The profile is written beside the operators' logs; with ``go`` on the PATH
(the toolchain that builds the environment's binaries) its top functions are
printed too.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

from tests import localenv

TOP = 25


def fetch(env: localenv.LocalEnv, seconds: float, path: Path) -> None:
    """Write ``seconds`` of the API server's CPU profile to ``path``."""
    command = [
        str(localenv.BIN / "kubectl"),
        "--kubeconfig",
        str(env.kubeconfig),
        "get",
        "--raw",
        f"/debug/pprof/profile?seconds={int(seconds)}",
        f"--request-timeout={int(seconds) + 60}s",
    ]
    with path.open("wb") as out:
        subprocess.run(command, stdout=out, check=True, timeout=seconds + 90)


def top(path: Path, count: int = TOP) -> str:
    """``go tool pprof -top`` of a profile: the functions by their own CPU, then cumulative."""
    go = shutil.which("go")
    if go is None:
        return f"    (no go on the PATH to read {path})"
    shown = [
        subprocess.run(
            [go, "tool", "pprof", "-top", *order, f"-nodecount={count}", str(path)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        for order in ((), ("-cum",))
    ]
    return "\n".join(s.stdout or s.stderr for s in shown)


@contextlib.contextmanager
def sampling(
    env: localenv.LocalEnv, seconds: float, path: Path, after: float = 10.0
) -> Iterator[None]:
    """Take one profile of ``seconds``, ``after`` seconds into the block (none if it ends first).

    A profile under way when the block ends is waited for (at most ``seconds``).
    """
    if seconds <= 0:
        yield
        return
    stop = threading.Event()
    errors: list[str] = []

    def take() -> None:
        if stop.wait(after):
            return
        try:
            fetch(env, seconds, path)
        except (OSError, subprocess.SubprocessError) as exc:
            errors.append(f"{type(exc).__name__}: {exc}")

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        if errors:
            print(f"    API server profile not taken: {errors[0]}", flush=True)
        elif path.exists() and path.stat().st_size:
            print(f"API server CPU profile ({seconds:.0f} s): {path}", flush=True)
            print(top(path), flush=True)
