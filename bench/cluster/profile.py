"""Where the operators spend their CPU while many clusters are built.

py-spy samples each operator process from outside (no change to the
operator, a few percent of overhead at 100 samples per second), writing
collapsed stacks: one line per distinct stack, ``frame;frame;frame count``.
Only the thread holding the GIL is sampled (``--gil``): a thread waiting for
the API server or Vault is not working, so a function's share of the samples
is its share of the Python work the process did.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.operators import RunningOperator

RATE = 100
# A frame as py-spy writes it: "function (path/to/module.py:123)".
FRAME = re.compile(r"^(?P<function>.*?) \((?P<path>[^():]+)(?::\d+)?\)$")
# Path parts after which the module path is worth showing (the rest is the machine's).
ANCHORS = ("site-packages/", "lib/python3", "/operators/", "/shared/")
OWN = ("operators/", "shared/")


def py_spy() -> str:
    """The py-spy installed beside this Python (the dev extra), or on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if not found:
        raise SystemExit("--profile needs py-spy (pip install -e '.[dev]')")
    return found


@contextlib.contextmanager
def sampling(running: Sequence[RunningOperator], out_dir: Path) -> Iterator[dict[str, Path]]:
    """Sample every operator until the block ends; yields the stack file of each."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {op.name: out_dir / f"{op.name}.stacks" for op in running}
    samplers = [
        subprocess.Popen(
            [py_spy(), "record", "--pid", str(op.process.pid), "--rate", str(RATE), "--gil",
             "--format", "raw", "--nonblocking", "--output", str(files[op.name])],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for op in running
    ]  # fmt: skip
    try:
        yield files
    finally:
        for sampler in samplers:
            sampler.send_signal(signal.SIGINT)
        for sampler in samplers:
            try:
                sampler.wait(timeout=30)
            except subprocess.TimeoutExpired:
                sampler.kill()


def short(frame: str) -> str:
    """``function (module path)`` without the machine's directories or line numbers."""
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["path"]
    for anchor in ANCHORS:
        if anchor in path:
            path = path.split(anchor, 1)[1]
            if anchor == "lib/python3":
                path = path.split("/", 1)[-1]
            elif anchor.startswith("/"):
                path = anchor.lstrip("/") + path  # the project's own package stays named
            break
    return f"{match['function']} ({path})"


@dataclass(frozen=True)
class Profile:
    samples: int
    own: Counter[str]  # samples where the function itself ran
    within: Counter[str]  # samples where the function was on the stack

    def top(self, counter: Counter[str], n: int) -> list[str]:
        total = max(self.samples, 1)
        return [f"{100.0 * k / total:5.1f}%  {name}" for name, k in counter.most_common(n)]


def read(path: Path) -> Profile:
    own: Counter[str] = Counter()
    within: Counter[str] = Counter()
    samples = 0
    if not path.exists():
        return Profile(0, own, within)
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        # The first frame names the process or thread, not a function.
        frames = [short(f) for f in stack.split(";")[1:]]
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        # Only the project's own functions: the event loop and thread pool
        # are on every stack and say nothing about what the work was for.
        for name in {f for f in frames if f.split("(", 1)[-1].startswith(OWN)}:
            within[name] += count
    return Profile(samples, own, within)


def report(files: dict[str, Path], n: int = 12) -> str:
    lines = []
    for name, path in files.items():
        profile = read(path)
        seconds = profile.samples / RATE
        lines.append(
            f"{name} operator: {profile.samples} samples (~{seconds:.1f} s holding the GIL)"
        )
        lines.append("  self (where the CPU went):")
        lines += [f"    {row}" for row in profile.top(profile.own, n)]
        lines.append("  g8s functions on the stack (what the work was for):")
        lines += [f"    {row}" for row in profile.top(profile.within, n)]
    return "\n".join(lines)


# --- Vault requests, from its audit log ----------------------------------------


def json_lines(path: Path, offset: int) -> Iterator[dict[str, Any]]:
    """The JSON objects of a log, one per line, from byte ``offset`` on; other
    lines (plain text, one still being written) are passed over."""
    if not path.exists():
        return
    with path.open("rb") as log:
        log.seek(offset)
        for line in log:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                yield entry


def audit_size(audit_log: Path) -> int:
    return audit_log.stat().st_size if audit_log.exists() else 0


def vault_path(path: str) -> str:
    """A request path with the cluster and the role left out: ``pki-*/sign/*``."""
    parts = path.strip("/").split("/")
    if parts and parts[0].startswith("pki-"):
        return "/".join(["pki-*", *parts[1:2], *(["*"] if len(parts) > 2 else [])])
    if parts[:2] == ["sys", "mounts"] and len(parts) > 2:
        return "sys/mounts/*" + ("/" + "/".join(parts[3:]) if len(parts) > 3 else "")
    return "/".join(parts)


def vault_requests(audit_log: Path, offset: int) -> Counter[str]:
    """Requests Vault received after ``offset`` of its audit log, by operation and path."""
    found: Counter[str] = Counter()
    for entry in json_lines(audit_log, offset):
        if entry.get("type") != "request":
            continue
        request = entry.get("request") or {}
        operation, path = request.get("operation", "?"), request.get("path") or ""
        found[f"{operation:<7} {vault_path(path)}"] += 1
    return found


def per_cluster(counts: Counter[str], clusters: int, n: int = 15) -> list[str]:
    total = sum(counts.values())
    rows = [f"    {'all':<56} {total:7d}  {total / clusters:7.1f} per cluster"]
    rows += [
        f"    {name:<56} {count:7d}  {count / clusters:7.1f} per cluster"
        for name, count in counts.most_common(n)
    ]
    return rows


# --- retries, from the operators' logs -------------------------------------------


def log_sizes(running: Sequence[RunningOperator]) -> dict[str, int]:
    return {op.name: op.log_path.stat().st_size for op in running}


def retries(running: Sequence[RunningOperator], offsets: dict[str, int]) -> Counter[str]:
    """Failed steps (each one a kopf retry after a delay) since ``offsets``, by
    operator, kind, step and reason: where clusters waited rather than worked."""
    found: Counter[str] = Counter()
    for op in running:
        for entry in json_lines(op.log_path, offsets.get(op.name, 0)):
            if entry.get("event") == "step failed":
                where = f"{entry.get('kind')} {entry.get('step')} {entry.get('reason')}"
                found[f"{op.name}: {where}"] += 1
    return found
