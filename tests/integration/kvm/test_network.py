"""The launcher's network path in a real network namespace: tap device, bridge, MAC.

Covers: in a fresh network namespace (``unshare --net``) holding a bridge,
the launcher starts QEMU with a tap device and a virtio NIC, puts the tap
on the bridge through netlink (``ip link`` then shows ``master <bridge>``),
and the booted guest sees a NIC with the MAC address the launcher was
configured with.
"""

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.kvm.guest import (
    WAITING_APPEND,
    ignition_file,
    launcher_env,
    require_guest,
)
from tests.integration.kvm.test_boot import BOOT_TIMEOUT
from tests.localenv import ROOT

BRIDGE = "g8s-br-test"
TAP = "tap-test"
MAC = "52:54:00:12:34:56"
# Runs inside the new namespace: the bridge first, then the launcher itself.
PRELUDE = f"""
import os, sys
from shared.netlink import Netlink
with Netlink() as link:
    link.add_bridge({BRIDGE!r}, alias="test", mtu=1500)
    link.set_link({BRIDGE!r}, up=True)
os.execv(sys.executable, [sys.executable, "-m", "operators.kvm.launcher"])
"""


def test_tap_on_the_bridge_and_mac_in_the_guest(tmp_path: Path) -> None:
    guest = require_guest()
    for tool in ("unshare", "nsenter", "ip"):
        if shutil.which(tool) is None:
            pytest.fail(f"the network test needs {tool} (util-linux, iproute2)", pytrace=False)
    path, _ = ignition_file(tmp_path)
    env = launcher_env(
        guest,
        tmp_path,
        path,
        G8S_LAUNCHER_APPEND=WAITING_APPEND,
        G8S_LAUNCHER_BRIDGE=BRIDGE,
        G8S_LAUNCHER_TAP=TAP,
        G8S_LAUNCHER_MAC=MAC,
        G8S_LAUNCHER_SHUTDOWN_TIMEOUT="2",
    )
    argv = ["unshare", "--net", "--", sys.executable, "-c", PRELUDE]
    with subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        try:
            seen = b""
            deadline = time.monotonic() + BOOT_TIMEOUT
            while b"g8s-guest: waiting" not in seen:
                assert time.monotonic() < deadline, seen.decode(errors="replace")
                line = proc.stdout.readline()
                assert line, "launcher exited before the guest came up"
                seen += line
            shown = subprocess.run(
                ["nsenter", f"--net=/proc/{proc.pid}/ns/net", "ip", "-o", "link", "show", TAP],
                capture_output=True,
                text=True,
                check=True,
                timeout=10,
            ).stdout
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        finally:
            proc.kill()
            proc.wait()
        err = proc.stderr.read()
    assert f"master {BRIDGE}" in shown, shown
    assert f"g8s-guest: mac={MAC}".encode() in seen, seen.decode(errors="replace")
    assert b"tap attached" in err
