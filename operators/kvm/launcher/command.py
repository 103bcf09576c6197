"""The QEMU command line for one VM: a pure function of the launcher's configuration."""

import os
from dataclasses import dataclass

from operators.kvm.launcher.config import AUTO, KVM, TCG, LauncherConfig

FW_CFG_IGNITION = "opt/org.flatcar-linux/config"


@dataclass(frozen=True)
class Accel:
    name: str
    # Why software emulation was chosen, for the warning; empty with KVM.
    warning: str = ""


def kvm_usable(device: str) -> str:
    """Empty when ``device`` can be opened read-write, else why not."""
    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        return f"{device}: {exc.strerror}"
    os.close(fd)
    return ""


def choose_accel(wanted: str, kvm_problem: str) -> Accel:
    if wanted not in (AUTO, KVM, TCG):
        raise ValueError(f"accel must be auto, kvm or tcg, got {wanted!r}")
    if wanted == TCG:
        return Accel(TCG, "software emulation requested (G8S_LAUNCHER_ACCEL=tcg)")
    if wanted == KVM or not kvm_problem:
        return Accel(KVM)
    return Accel(TCG, f"KVM unusable ({kvm_problem}); using software emulation, much slower")


def tap_name(config: LauncherConfig) -> str:
    # Interface names are at most 15 bytes.
    return (config.tap or f"tap-{config.name}")[:15]


def build(config: LauncherConfig, accel: Accel) -> list[str]:
    argv = [
        config.qemu,
        "-name",
        f"guest={config.name}",
        "-machine",
        f"q35,accel={accel.name}",
        "-smp",
        str(config.cpus),
        "-m",
        str(config.memory_mib),
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        # Serial console on stdout, so `kubectl logs` shows the guest's console.
        "-serial",
        "stdio",
        "-qmp",
        f"unix:{config.qmp_socket},server=on,wait=off",
    ]
    if accel.name == KVM:
        argv += ["-cpu", "host"]
    if config.disk:
        argv += [
            "-drive",
            f"if=virtio,file={config.disk},format={config.disk_format}",
        ]
    if config.bridge:
        netdev = f"tap,id=net0,ifname={tap_name(config)},script=no,downscript=no"
        device = "virtio-net-pci,netdev=net0"
        if config.mac:
            device += f",mac={config.mac}"
        argv += ["-netdev", netdev, "-device", device]
    if config.ignition:
        argv += ["-fw_cfg", f"name={FW_CFG_IGNITION},file={config.ignition}"]
    if config.kernel:
        argv += ["-kernel", config.kernel]
        if config.initrd:
            argv += ["-initrd", config.initrd]
        if config.append:
            argv += ["-append", config.append]
    return argv
