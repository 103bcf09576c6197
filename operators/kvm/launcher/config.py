"""The launcher's configuration (environment variables ``G8S_LAUNCHER_*``)."""

from dataclasses import dataclass

AUTO = "auto"
KVM = "kvm"
TCG = "tcg"


@dataclass(frozen=True)
class LauncherConfig:
    name: str = "vm"
    cpus: int = 1
    memory_mib: int = 1024
    # Directory of the guest OS image (read-only): manifest.json names the
    # kernel, initrd and root filesystem image in it and the kernel command
    # line. Empty: none; kernel, initrd, append and disk are taken as set.
    guest_dir: str = ""
    # Directory on the disk volume (a filesystem) that keeps the VM's qcow2
    # overlay over the guest image's root: made on first start, reused after.
    # Empty: ``disk`` is used as it is.
    disk_dir: str = ""
    # Size of the overlay when it is made, in GiB; 0: the root image's size.
    disk_gib: int = 0
    # Path of a root disk used as it is (a block device or image file); empty: none.
    disk: str = ""
    disk_format: str = "raw"
    # Path of the Ignition config handed to the guest through fw_cfg; empty: none.
    ignition: str = ""
    # Directory shared read-only with the guest over 9p (the node's live
    # certificates and keys, which the kubelet updates in place); empty: none.
    pki_dir: str = ""
    # Network: a tap device on this bridge (empty: no network device at all).
    bridge: str = ""
    tap: str = ""
    mac: str = ""
    # auto: KVM when /dev/kvm is usable, else software emulation (with a warning).
    accel: str = AUTO
    kvm_device: str = "/dev/kvm"
    qemu: str = "qemu-system-x86_64"
    qemu_img: str = "qemu-img"
    # Direct kernel boot; empty: the guest image's, else boot from the disk.
    kernel: str = ""
    initrd: str = ""
    append: str = ""
    qmp_socket: str = "/run/g8s/qmp.sock"
    # Port of the readiness endpoint (GET /readyz); 0: none.
    ready_port: int = 8080
    ready_address: str = "0.0.0.0"  # noqa: S104 - probed by the kubelet
    # Seconds to wait for the guest's ACPI power-down after SIGTERM before quitting QEMU.
    shutdown_timeout: float = 120.0
    # Seconds between two presses of the ACPI power button during that wait; 0: press once.
    powerdown_interval: float = 10.0
