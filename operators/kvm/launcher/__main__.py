"""Run one VM: ``python -m operators.kvm.launcher`` (settings: ``G8S_LAUNCHER_*``)."""

import asyncio
import os
import sys

from operators.kvm.launcher import command, guest
from operators.kvm.launcher.config import LauncherConfig
from operators.kvm.launcher.process import Launcher
from shared import logs
from shared.netlink import Netlink
from shared.settings import load


def attach(tap: str, bridge: str) -> None:
    with Netlink() as link:
        link.set_link(tap, master=bridge, up=True)


def main() -> int:
    config = load(LauncherConfig, os.environ, prefix="G8S_LAUNCHER_")
    # Logs go to stderr: stdout is the guest's serial console.
    logs.configure(operator="kvm-launcher", log_format=os.environ.get("G8S_LOG_FORMAT", "auto"))
    log = logs.get_logger("g8s.launcher", vm=config.name)
    try:
        command.choose_accel(config.accel, "")
    except ValueError as exc:
        log.error("invalid configuration", error=str(exc))
        return 2
    try:
        config, done = guest.prepare(config)
    except guest.GuestError as exc:
        log.error("guest image or disk unusable", error=str(exc))
        return 2
    if done:
        log.info("guest image", **done)
    return asyncio.run(Launcher(config, attach=attach).run())


if __name__ == "__main__":
    sys.exit(main())
