"""The QMP adapter (shared/qemu.py) against a real QEMU process.

Covers: the greeting and capabilities negotiation, ``query-status`` of a
machine started paused, an unknown command surfacing as ``QmpError`` with
QEMU's error class, and ``quit`` ending the QEMU process.
"""

import asyncio
import subprocess
from pathlib import Path

import pytest

from shared.qemu import Qmp, QmpError
from tests.integration.kvm.guest import require_guest


async def _connect(socket: Path) -> Qmp:
    # QEMU creates the socket while it starts; a refused connect means "not yet".
    for _ in range(200):
        try:
            return await Qmp.connect(str(socket))
        except QmpError:
            await asyncio.sleep(0.05)
    pytest.fail(f"QEMU never opened {socket}")


async def _session(socket: Path) -> tuple[str, str]:
    qmp = await _connect(socket)
    try:
        status = await qmp.status()
        with pytest.raises(QmpError) as refused:
            await qmp.execute("no-such-command")
        await qmp.quit()
    finally:
        await qmp.close()
    return status, str(refused.value)


def test_qmp_session(tmp_path: Path) -> None:
    guest = require_guest()
    socket = tmp_path / "qmp.sock"
    argv = [
        guest.qemu,
        "-machine",
        "q35,accel=tcg",
        "-display",
        "none",
        "-nodefaults",
        "-S",
        "-qmp",
        f"unix:{socket},server=on,wait=off",
    ]
    with subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        try:
            status, refused = asyncio.run(_session(socket))
            code = proc.wait(timeout=20)
        finally:
            proc.kill()
    assert status == "prelaunch"
    assert "CommandNotFound" in refused
    assert code == 0
