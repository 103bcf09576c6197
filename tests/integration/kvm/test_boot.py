"""A real boot of the tiny guest by the VM launcher, under software emulation (QEMU TCG).

Covers: the launcher (``python -m operators.kvm.launcher``, a real process)
boots the Debian kernel with the test initramfs, hands the Ignition config
from a real ``<node>-ignition`` Secret (built by the operator's builders)
through fw_cfg, and the SHA-256 the guest prints on its serial console
(the launcher's stdout) equals the Secret's content hash; KVM being
refused, the launcher warns that it uses software emulation. On SIGTERM
with a guest that does not power itself down, the launcher asks through
QMP, reports the timeout, quits QEMU, and exits within the timeout plus a
small grace; a guest that listens to its ACPI power button powers down on
the launcher's QMP ``system_powerdown`` well before the timeout; a QEMU
stopped with SIGSTOP, which answers no QMP, is killed once QMP stays silent,
not after the timeout; /readyz answers 200 while the VM runs.
"""

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from operators.kvm.launcher.process import QMP_ANSWER_WAIT
from tests.integration.kvm.guest import (
    WAITING_APPEND,
    ignition_file,
    launcher_env,
    require_guest,
)
from tests.localenv import ROOT, free_port

BOOT_TIMEOUT = 240.0
SHA_LINE = re.compile(rb"g8s-guest: ignition-sha256=([0-9a-f]{64})")


def _launch(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "operators.kvm.launcher"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_guest_reads_the_ignition_secret_through_fw_cfg(tmp_path: Path) -> None:
    guest = require_guest()
    path, expected = ignition_file(tmp_path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == expected
    env = launcher_env(guest, tmp_path, path, G8S_LAUNCHER_APPEND="console=ttyS0 quiet panic=-1")
    with _launch(env) as proc:
        try:
            out, err = proc.communicate(timeout=BOOT_TIMEOUT)
        finally:
            proc.kill()
    match = SHA_LINE.search(out)
    assert match is not None, f"no hash on the console:\n{out.decode(errors='replace')[-2000:]}"
    assert match.group(1).decode() == expected
    assert proc.returncode == 0
    assert b"software emulation" in err
    assert b"tcg,tb-size=" in err


def _ready(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return int(response.status)
    except OSError as exc:
        return int(getattr(exc, "code", 0) or 0)


def test_sigterm_powers_the_guest_down_through_acpi(tmp_path: Path) -> None:
    guest = require_guest()
    path, _ = ignition_file(tmp_path)
    port = free_port()
    timeout = 120
    env = launcher_env(
        guest,
        tmp_path,
        path,
        G8S_LAUNCHER_APPEND="console=ttyS0 quiet panic=-1 g8s.acpi",
        G8S_LAUNCHER_READY_PORT=str(port),
        G8S_LAUNCHER_READY_ADDRESS="127.0.0.1",
        G8S_LAUNCHER_SHUTDOWN_TIMEOUT=str(timeout),
        G8S_LAUNCHER_POWERDOWN_INTERVAL="3",
    )
    with _launch(env) as proc:
        took, out, err = _terminate_when_up(proc, port, timeout)
    assert b"g8s-guest: power button" in out
    assert b"guest powered down" in err
    assert b"did not power down in time" not in err
    assert proc.returncode == 0
    assert took < timeout, f"took {took:.1f}s"


def _deaf_guest(tmp_path: Path, timeout: int) -> tuple[dict[str, str], int]:
    """The launcher's environment for a guest that ignores the power button, with a
    readiness port, and that port."""
    guest = require_guest()
    path, _ = ignition_file(tmp_path)
    port = free_port()
    env = launcher_env(
        guest,
        tmp_path,
        path,
        G8S_LAUNCHER_APPEND=WAITING_APPEND,
        G8S_LAUNCHER_READY_PORT=str(port),
        G8S_LAUNCHER_READY_ADDRESS="127.0.0.1",
        G8S_LAUNCHER_SHUTDOWN_TIMEOUT=str(timeout),
    )
    return env, port


def test_sigterm_quits_qemu_after_the_timeout(tmp_path: Path) -> None:
    timeout = 5
    env, port = _deaf_guest(tmp_path, timeout)
    with _launch(env) as proc:
        took, _, err = _terminate_when_up(proc, port, timeout)
    assert b"powering down the guest" in err
    assert b"did not power down in time" in err
    # Within the timeout plus the quit's grace, never the kubelet's SIGKILL.
    assert took < timeout + 10, f"took {took:.1f}s"
    assert took >= timeout - 0.5


def test_sigterm_kills_a_qemu_that_does_not_answer_qmp(tmp_path: Path) -> None:
    """A wedged VM (its QEMU stopped with SIGSTOP, as node remediation's test does) cannot
    take the power button: the launcher kills QEMU once QMP stays silent, long before the
    power-down timeout, and leaves no QEMU behind."""
    timeout = 120
    env, port = _deaf_guest(tmp_path, timeout)
    socket = str(tmp_path / "qmp.sock")

    def wedge() -> None:
        (pid,) = _qemu_pids(socket)
        os.kill(pid, signal.SIGSTOP)

    with _launch(env) as proc:
        took, _, err = _terminate_when_up(proc, port, timeout, before=wedge)
    assert b"qemu does not answer QMP, killing it" in err
    assert b"did not power down in time" not in err
    assert took < QMP_ANSWER_WAIT + 10, f"took {took:.1f}s"
    assert _qemu_pids(socket) == []


def _qemu_pids(marker: str) -> list[int]:
    """QEMU processes whose command line names ``marker`` (the test's own QMP socket)."""
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True, check=False)
    return [int(pid) for pid in found.stdout.split()]


def _terminate_when_up(
    proc: subprocess.Popen[bytes],
    port: int,
    timeout: int,
    *,
    before: Callable[[], None] | None = None,
) -> tuple[float, bytes, bytes]:
    assert proc.stdout is not None
    assert proc.stderr is not None
    try:
        deadline = time.monotonic() + BOOT_TIMEOUT
        seen = b""
        # Wait for the guest to be up (it prints "waiting"), reading the console.
        while b"g8s-guest: waiting" not in seen:
            assert time.monotonic() < deadline, (
                f"guest never came up:\n{seen.decode(errors='replace')}"
            )
            line = proc.stdout.readline()
            assert line, "launcher exited before the guest came up"
            seen += line
        assert _ready(port) == 200
        if before is not None:
            before()
        asked = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=timeout + 15)
        took = time.monotonic() - asked
        seen += proc.stdout.read()
    finally:
        proc.kill()
        proc.wait()
    return took, seen, proc.stderr.read()
