"""A launcher whose VM cannot be reached ends QEMU and exits, instead of hanging unready.

Covers, with a real QEMU in a fresh network namespace (``unshare --net``):
a tap that cannot be put on the bridge (the bridge does not exist; real
netlink) and an attach call that never returns both end with exit code
``START_FAILED``, a log line saying why, and no QEMU process left behind,
so the kubelet starts the container again.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from operators.kvm.launcher.process import START_FAILED
from tests.integration.kvm.guest import (
    WAITING_APPEND,
    ignition_file,
    launcher_env,
    require_guest,
)
from tests.localenv import ROOT

# No bridge is made in the namespace: the real netlink attach fails.
MISSING_BRIDGE = """
import sys
from operators.kvm.launcher.__main__ import main
sys.exit(main())
"""
# An attach that never returns, as a wedged netlink socket would.
HANGING_ATTACH = """
import asyncio, os, sys, threading
from operators.kvm.launcher.config import LauncherConfig
from operators.kvm.launcher.process import Launcher
from shared import logs
from shared.settings import load
logs.configure(operator="kvm-launcher", log_format="json")
config = load(LauncherConfig, os.environ, prefix="G8S_LAUNCHER_")
never = threading.Event()
launcher = Launcher(config, attach=lambda tap, bridge: never.wait(), attach_wait=2.0)
sys.exit(asyncio.run(launcher.run()))
"""


def _run(tmp_path: Path, script: str) -> tuple[int, list[dict[str, object]], str]:
    guest = require_guest()
    if shutil.which("unshare") is None:
        pytest.fail("the launcher start test needs unshare (util-linux)", pytrace=False)
    path, _ = ignition_file(tmp_path)
    env = launcher_env(
        guest,
        tmp_path,
        path,
        G8S_LAUNCHER_APPEND=WAITING_APPEND,
        G8S_LAUNCHER_BRIDGE="g8s-br-absent",
        G8S_LAUNCHER_TAP="tap-start",
    )
    done = subprocess.run(
        ["unshare", "--net", "--", sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    events = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    # QEMU was started with the socket path of this test on its command line.
    left = subprocess.run(
        ["pgrep", "-f", str(tmp_path / "qmp.sock")], capture_output=True, text=True, check=False
    ).stdout
    return done.returncode, events, left


def _event(events: list[dict[str, object]], name: str) -> dict[str, object]:
    found = [e for e in events if e.get("event") == name]
    assert found, [e.get("event") for e in events]
    return found[0]


def test_a_tap_that_cannot_join_the_bridge_ends_the_start(tmp_path: Path) -> None:
    code, events, left = _run(tmp_path, MISSING_BRIDGE)
    assert code == START_FAILED
    assert "g8s-br-absent" in str(_event(events, "tap not attached")["error"])
    assert left == ""


def test_an_attach_that_never_returns_ends_the_start(tmp_path: Path) -> None:
    code, events, left = _run(tmp_path, HANGING_ATTACH)
    assert code == START_FAILED
    assert _event(events, "tap not attached in time")["tap"] == "tap-start"
    assert left == ""
