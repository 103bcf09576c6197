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
    assert "-machine q35,accel=kvm" in joined
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


def test_minimal_command_with_tcg_and_kernel() -> None:
    config = LauncherConfig(kernel="/k", initrd="/i", append="console=ttyS0")
    argv = command.build(config, command.Accel("tcg", "why"))
    assert "q35,accel=tcg" in argv
    assert "-cpu" not in argv
    assert "-netdev" not in argv
    assert "-drive" not in argv
    assert "-fw_cfg" not in argv
    assert argv[argv.index("-kernel") + 1] == "/k"
    assert argv[argv.index("-initrd") + 1] == "/i"
    assert argv[argv.index("-append") + 1] == "console=ttyS0"


def test_tap_name_fits_an_interface_name() -> None:
    assert len(command.tap_name(LauncherConfig(name="a-very-long-node-name-indeed"))) == 15


def test_accel_choice() -> None:
    assert command.choose_accel("auto", "") == command.Accel("kvm")
    chosen = command.choose_accel("auto", "/dev/kvm: Permission denied")
    assert chosen.name == "tcg"
    assert "Permission denied" in chosen.warning
    assert command.choose_accel("tcg", "").name == "tcg"
    assert command.choose_accel("kvm", "missing").name == "kvm"
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
