"""The launcher's guest image manifest and the VM's qcow2 overlay (qemu-img faked)."""

import json
from pathlib import Path

import pytest

from operators.kvm.launcher import guest
from operators.kvm.launcher.config import LauncherConfig

MANIFEST = {
    "kernel": "vmlinuz",
    "initrd": "initrd.img",
    "root": "root.raw",
    "append": "root=/dev/vda rw console=ttyS0",
}
# Stands in for qemu-img: records its arguments, creates the overlay it is
# asked for ($9), or fails when told to.
FAKE_QEMU_IMG = """#!/bin/sh
echo "$@" >> "{log}"
[ -e "{fail}" ] && {{ echo "qemu-img: broken" >&2; exit 1; }}
echo overlay > "$9"
"""


def test_parse_manifest() -> None:
    parsed = guest.parse_manifest(json.dumps(MANIFEST))
    assert parsed == guest.Manifest("vmlinuz", "initrd.img", "root.raw", MANIFEST["append"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not JSON"),
        ("[]", "object"),
        (json.dumps({"kernel": "vmlinuz"}), "lacks initrd, root, append"),
        (json.dumps({**MANIFEST, "root": "/etc/shadow"}), "inside the image"),
        (json.dumps({**MANIFEST, "kernel": "../vmlinuz"}), "inside the image"),
        (json.dumps({**MANIFEST, "initrd": ""}), "file name"),
        (json.dumps({**MANIFEST, "append": 3}), "append"),
    ],
)
def test_parse_manifest_refuses(text: str, message: str) -> None:
    with pytest.raises(guest.GuestError, match=message):
        guest.parse_manifest(text)


def test_create_overlay_argv() -> None:
    argv = guest.create_overlay_argv("qemu-img", "/g/root.raw", "/d/.partial", 20)
    assert argv == [
        "qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw",
        "-b", "/g/root.raw", "/d/.partial", "20G",
    ]  # fmt: skip
    assert guest.create_overlay_argv("q", "/b", "/o", 0)[-1] == "/o"


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A guest image directory, an empty disk directory and a fake qemu-img."""
    image, disk = tmp_path / "guest", tmp_path / "disk"
    image.mkdir()
    disk.mkdir()
    (image / "manifest.json").write_text(json.dumps(MANIFEST))
    (image / "root.raw").write_bytes(b"\0" * 1024)
    fake = tmp_path / "qemu-img"
    fake.write_text(FAKE_QEMU_IMG.format(log=tmp_path / "calls", fail=tmp_path / "fail"))
    fake.chmod(0o755)
    return image, disk, fake


def _config(dirs: tuple[Path, Path, Path], **changes: object) -> LauncherConfig:
    image, disk, fake = dirs
    fields: dict[str, object] = {
        "guest_dir": str(image),
        "disk_dir": str(disk),
        "disk_gib": 20,
        "qemu_img": str(fake),
    }
    return LauncherConfig(**{**fields, **changes})  # type: ignore[arg-type]


def test_prepare_makes_the_overlay_once(dirs: tuple[Path, Path, Path]) -> None:
    image, disk, fake = dirs
    config, done = guest.prepare(_config(dirs))
    assert config.kernel == str(image / "vmlinuz")
    assert config.initrd == str(image / "initrd.img")
    assert config.append == MANIFEST["append"]
    assert config.disk == str(disk / "disk.qcow2")
    assert config.disk_format == "qcow2"
    assert done == {
        "guest_dir": str(image),
        "disk": str(disk / "disk.qcow2"),
        "backing": str(image / "root.raw"),
        "created": True,
    }
    calls = (fake.parent / "calls").read_text().splitlines()
    partial = disk / ".disk.qcow2.partial"
    assert calls == [f"create -q -f qcow2 -F raw -b {image}/root.raw {partial} 20G"]
    assert sorted(p.name for p in disk.iterdir()) == ["disk.qcow2"]
    # A restarted pod boots the overlay it finds: the VM keeps its state.
    again, done = guest.prepare(_config(dirs))
    assert again.disk == config.disk
    assert done["created"] is False
    assert len((fake.parent / "calls").read_text().splitlines()) == 1


def test_a_half_made_overlay_is_made_again(dirs: tuple[Path, Path, Path]) -> None:
    _, disk, _ = dirs
    (disk / ".disk.qcow2.partial").write_text("killed half-way")
    guest.prepare(_config(dirs))
    assert sorted(p.name for p in disk.iterdir()) == ["disk.qcow2"]
    assert (disk / "disk.qcow2").read_text() == "overlay\n"


def test_a_failed_qemu_img_leaves_no_disk(dirs: tuple[Path, Path, Path]) -> None:
    _, disk, fake = dirs
    (fake.parent / "fail").touch()
    with pytest.raises(guest.GuestError, match="exited 1: qemu-img: broken"):
        guest.prepare(_config(dirs))
    assert not (disk / "disk.qcow2").exists()


def test_explicit_settings_win_over_the_manifest(dirs: tuple[Path, Path, Path]) -> None:
    config, _ = guest.prepare(_config(dirs, append="console=ttyS0 g8s.wait", kernel="/k"))
    assert config.append == "console=ttyS0 g8s.wait"
    assert config.kernel == "/k"


def test_without_a_disk_dir_the_disk_is_kept(dirs: tuple[Path, Path, Path]) -> None:
    config, done = guest.prepare(_config(dirs, disk_dir="", disk="/dev/vdb"))
    assert (config.disk, config.disk_format) == ("/dev/vdb", "raw")
    assert "created" not in done


def test_without_a_guest_dir_nothing_changes() -> None:
    config = LauncherConfig(disk="/dev/vdb")
    assert guest.prepare(config) == (config, {})


def test_missing_manifest_or_root(dirs: tuple[Path, Path, Path]) -> None:
    image, _, _ = dirs
    (image / "root.raw").unlink()
    with pytest.raises(guest.GuestError, match="no root file"):
        guest.prepare(_config(dirs))
    (image / "manifest.json").unlink()
    with pytest.raises(guest.GuestError, match="no guest image manifest"):
        guest.prepare(_config(dirs))
