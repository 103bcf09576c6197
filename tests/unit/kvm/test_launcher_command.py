"""The launcher's QEMU command line and its choice of acceleration."""

import os
from pathlib import Path

import pytest

from operators.kvm.launcher import command
from operators.kvm.launcher.config import LauncherConfig


def _pairs(argv: list[str]) -> list[tuple[str, str]]:
    return list(zip(argv[1::2], argv[2::2], strict=False))


def test_full_command_with_kvm() -> None:
    config = LauncherConfig(
        name="n1",
        cpus=2,
        memory_mib=2048,
        disk="/dev/g8s-disk",
        ignition="/ign/config.ign",
        bridge="br0",
        mac="52:54:00:aa:bb:cc",
        qmp_socket="/run/q.sock",
    )
    argv = command.build(config, command.Accel("kvm"))
    assert argv[0] == "qemu-system-x86_64"
    joined = " ".join(argv)
    assert "-machine q35 -accel kvm " in joined
    assert "-cpu host" in joined
    assert "-smp 2" in joined
    assert "-m 2048" in joined
    assert "-serial stdio" in joined
    assert "-qmp unix:/run/q.sock,server=on,wait=off" in joined
    assert "-drive if=virtio,file=/dev/g8s-disk,format=raw" in joined
    assert "-netdev tap,id=net0,ifname=tap-n1,script=no,downscript=no" in joined
    assert "-device virtio-net-pci,netdev=net0,mac=52:54:00:aa:bb:cc" in joined
    assert "-fw_cfg name=opt/org.flatcar-linux/config,file=/ign/config.ign" in joined
    assert "-kernel" not in argv


def test_qcow2_overlay_and_ignition_under_both_names() -> None:
    config = LauncherConfig(
        disk="/var/lib/g8s/disk/disk.qcow2",
        disk_format="qcow2",
        ignition="/etc/g8s/ignition/config.ign",
        kernel="/var/lib/g8s/guest/vmlinuz",
        initrd="/var/lib/g8s/guest/initrd.img",
        append="root=/dev/vda rw console=ttyS0",
    )
    argv = command.build(config, command.Accel("tcg"))
    assert ("-drive", "if=virtio,file=/var/lib/g8s/disk/disk.qcow2,format=qcow2") in _pairs(argv)
    fw_cfg = [argv[i + 1] for i, arg in enumerate(argv) if arg == "-fw_cfg"]
    # Upstream Ignition's name and Flatcar's, the same file under both.
    assert fw_cfg == [
        "name=opt/com.coreos/config,file=/etc/g8s/ignition/config.ign",
        "name=opt/org.flatcar-linux/config,file=/etc/g8s/ignition/config.ign",
    ]
    assert argv[argv.index("-kernel") + 1] == "/var/lib/g8s/guest/vmlinuz"
    assert argv[argv.index("-initrd") + 1] == "/var/lib/g8s/guest/initrd.img"
    assert argv[argv.index("-append") + 1] == "root=/dev/vda rw console=ttyS0"


def test_the_live_files_are_shared_read_only_over_9p() -> None:
    argv = command.build(LauncherConfig(pki_dir="/etc/g8s/pki"), command.Accel("tcg"))
    (share,) = [argv[i + 1] for i, arg in enumerate(argv) if arg == "-virtfs"]
    options = share.split(",")
    assert options[0] == "local"
    assert "path=/etc/g8s/pki" in options
    assert f"mount_tag={command.PKI_MOUNT_TAG}" in options
    assert "readonly=on" in options
    assert "-virtfs" not in command.build(LauncherConfig(), command.Accel("tcg"))


def test_minimal_command_with_tcg_and_kernel() -> None:
    config = LauncherConfig(kernel="/k", initrd="/i", append="console=ttyS0")
    argv = command.build(config, command.Accel("tcg", "why"))
    # The translation cache is bounded, so QEMU fits the pod's memory overhead.
    assert argv[argv.index("-accel") + 1] == "tcg,tb-size=128"
    assert "-cpu" not in argv
    assert "-netdev" not in argv
    assert "-drive" not in argv
    assert "-fw_cfg" not in argv
    assert argv[argv.index("-kernel") + 1] == "/k"
    assert argv[argv.index("-initrd") + 1] == "/i"
    assert argv[argv.index("-append") + 1] == "console=ttyS0"


def test_tap_name_fits_an_interface_name() -> None:
    assert len(command.tap_name(LauncherConfig(name="a-very-long-node-name-indeed"))) == 15


def test_accel_choice_says_why() -> None:
    usable = command.choose_accel("auto", "")
    assert (usable.name, usable.fallback) == ("kvm", False)
    assert usable.why.startswith("auto")
    chosen = command.choose_accel("auto", "/dev/kvm: Permission denied")
    assert (chosen.name, chosen.fallback) == ("tcg", True)
    assert "Permission denied" in chosen.why
    assert "software emulation" in chosen.why
    # Asked for: no fallback, and the reason names the setting.
    tcg = command.choose_accel("tcg", "")
    assert (tcg.name, tcg.fallback) == ("tcg", False)
    assert "G8S_LAUNCHER_ACCEL=tcg" in tcg.why
    kvm = command.choose_accel("kvm", "/dev/kvm: No such file or directory")
    assert (kvm.name, kvm.fallback) == ("kvm", False)
    assert "No such file" in kvm.why
    with pytest.raises(ValueError, match="accel"):
        command.choose_accel("xen", "")


def test_kvm_usable(tmp_path: Path) -> None:
    assert "No such file" in command.kvm_usable(str(tmp_path / "missing"))
    usable = tmp_path / "dev"
    usable.write_text("")
    assert command.kvm_usable(str(usable)) == ""
    if os.geteuid() != 0:
        usable.chmod(0)
        assert command.kvm_usable(str(usable)) != ""
