"""The QEMU command line for one VM: a pure function of the launcher's configuration."""

import os
from dataclasses import dataclass

from operators.kvm.launcher.config import AUTO, KVM, TCG, LauncherConfig

# Size of TCG's translation block cache (MiB).
TCG_TB_SIZE_MIB = 128
# The 9p tag of the live files' share; the guest's mount unit names it.
PKI_MOUNT_TAG = "g8s-pki"
# Upstream Ignition reads the first name, Flatcar's build the second: the
# config is handed over under both, so either kind of guest finds it.
FW_CFG_IGNITION = ("opt/com.coreos/config", "opt/org.flatcar-linux/config")


@dataclass(frozen=True)
class Accel:
    name: str
    # Why this accelerator, for the launcher's log line.
    why: str = ""
    # KVM was hoped for (auto) but is unusable: software emulation instead.
    fallback: bool = False


def kvm_usable(device: str) -> str:
    """Empty when ``device`` can be opened read-write, else why not."""
    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        return f"{device}: {exc.strerror}"
    os.close(fd)
    return ""


def choose_accel(wanted: str, kvm_problem: str) -> Accel:
    """The accelerator for ``wanted`` (auto, kvm, tcg); ``kvm_problem``: see ``kvm_usable``."""
    if wanted not in (AUTO, KVM, TCG):
        raise ValueError(f"accel must be auto, kvm or tcg, got {wanted!r}")
    if wanted == TCG:
        return Accel(TCG, "software emulation requested (G8S_LAUNCHER_ACCEL=tcg)")
    if wanted == KVM:
        # Asked for explicitly: QEMU's own error is clearer than a silent fallback.
        note = f"; {kvm_problem}: QEMU will fail" if kvm_problem else ""
        return Accel(KVM, f"KVM requested (G8S_LAUNCHER_ACCEL=kvm){note}")
    if not kvm_problem:
        return Accel(KVM, "auto: KVM device usable")
    why = f"auto: KVM unusable ({kvm_problem}); software emulation, much slower"
    return Accel(TCG, why, fallback=True)


def tap_name(config: LauncherConfig) -> str:
    # Interface names are at most 15 bytes.
    return (config.tap or f"tap-{config.name}")[:15]


def build(config: LauncherConfig, accel: Accel) -> list[str]:
    argv = [
        config.qemu,
        "-name",
        f"guest={config.name}",
        "-machine",
        "q35",
        # QEMU's translation cache defaults to 1 GiB: more than the pod's
        # memory overhead allows; 128 MiB costs little speed on one vCPU.
        "-accel",
        accel.name if accel.name == KVM else f"{accel.name},tb-size={TCG_TB_SIZE_MIB}",
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
    if config.pki_dir:
        # security_model=none: the guest sees the files' own owner and mode
        # (root, 0600 for keys); read-only, so the guest cannot change them.
        share = f"local,path={config.pki_dir},mount_tag={PKI_MOUNT_TAG},security_model=none"
        argv += ["-virtfs", share + ",readonly=on"]
    if config.ignition:
        for name in FW_CFG_IGNITION:
            argv += ["-fw_cfg", f"name={name},file={config.ignition}"]
    if config.kernel:
        argv += ["-kernel", config.kernel]
        if config.initrd:
            argv += ["-initrd", config.initrd]
        if config.append:
            argv += ["-append", config.append]
    return argv
