"""The guest image builder (tests/guestimage.py): its pure parts, without mmdebstrap or QEMU."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests import guestimage, images
from tests.images import ImageError

LDD = """\
\tlinux-vdso.so.1 (0x00007ffd4b5f2000)
\tlibblkid.so.1 => /lib/x86_64-linux-gnu/libblkid.so.1 (0x00007f10511f0000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f105100e000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f105125a000)
"""


def key_with(**changes: object) -> str:
    fields: dict[str, object] = {
        "builder": [b"module source", b"first-boot"],
        "binaries": {"kubelet": "a" * 64, "ignition": "b" * 64},
        "preloaded": [{"name": "g8s.local/kube-apiserver:v1.34.4", "files": []}],
    }
    fields.update(changes)
    return guestimage.guest_key(**fields)  # type: ignore[arg-type]


# --- the key and the manifest ---------------------------------------------------


def test_the_key_is_stable_for_the_same_inputs() -> None:
    assert key_with() == key_with()


@pytest.mark.parametrize(
    "change",
    [
        {"builder": [b"module source, edited", b"first-boot"]},
        {"builder": [b"module source", b"first-boot, edited"]},
        {"binaries": {"kubelet": "c" * 64, "ignition": "b" * 64}},
        {"binaries": {"kubelet": "a" * 64, "ignition": "c" * 64}},
        {"preloaded": [{"name": "g8s.local/kube-apiserver:v1.34.5", "files": []}]},
        {"packages": (*guestimage.PACKAGES, "dbus")},
    ],
)
def test_the_key_changes_with_any_input(change: dict[str, object]) -> None:
    assert key_with(**change) != key_with()


def test_the_package_order_does_not_change_the_key() -> None:
    assert key_with(packages=tuple(reversed(guestimage.PACKAGES))) == key_with()


def test_the_manifest_names_what_the_launcher_boots() -> None:
    names = guestimage.preloaded_names("1.34.4")
    document = guestimage.manifest("f" * 64, "1.34.4", names)
    assert document == {
        "kernel": "vmlinuz",
        "initrd": "initrd.img",
        "root": "root.raw",
        "append": guestimage.APPEND,
        "kubernetesVersion": "1.34.4",
        "images": [
            "g8s.local/pause:3.10",
            "g8s.local/kube-apiserver:v1.34.4",
            "g8s.local/kube-controller-manager:v1.34.4",
            "g8s.local/kube-scheduler:v1.34.4",
        ],
        "key": "f" * 64,
    }
    assert json.loads(json.dumps(document)) == document


def test_the_kernel_boots_the_virtio_disk_read_write_on_the_serial_console() -> None:
    args = guestimage.APPEND.split()
    assert "root=/dev/vda" in args
    assert "rw" in args
    assert "console=ttyS0" in args


def test_the_kubernetes_version_comes_from_the_control_plane_module(tmp_path: Path) -> None:
    go_mod = tmp_path / "go.mod"
    go_mod.write_text("module x\n\nrequire (\n\tk8s.io/kubernetes v1.34.4\n)\n")
    assert guestimage.kubernetes_version(go_mod) == "1.34.4"
    go_mod.write_text("module x\n")
    with pytest.raises(ImageError):
        guestimage.kubernetes_version(go_mod)


# --- the preloaded images --------------------------------------------------------


def test_ldd_output_gives_each_library_at_the_path_the_loader_uses() -> None:
    assert guestimage.parse_ldd(LDD) == {
        "/lib/x86_64-linux-gnu/libblkid.so.1": Path("/lib/x86_64-linux-gnu/libblkid.so.1"),
        "/lib/x86_64-linux-gnu/libc.so.6": Path("/lib/x86_64-linux-gnu/libc.so.6"),
        "/lib64/ld-linux-x86-64.so.2": Path("/lib64/ld-linux-x86-64.so.2"),
    }


def test_a_library_ldd_cannot_find_is_an_error() -> None:
    with pytest.raises(ImageError, match="libmissing"):
        guestimage.parse_ldd("\tlibmissing.so.1 => not found\n")


def test_a_fingerprint_names_contents_not_host_paths(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).write_bytes(b"kube-scheduler")
        (tmp_path / name).chmod(0o755)

    def spec(host: Path) -> images.ImageSpec:
        return images.ImageSpec(name="g8s.local/kube-scheduler:v1.34.4", files={"/bin/k": host})

    first = guestimage.spec_fingerprint(spec(tmp_path / "a"), images.file_digest)
    assert guestimage.spec_fingerprint(spec(tmp_path / "b"), images.file_digest) == first
    (tmp_path / "b").write_bytes(b"another kube-scheduler")
    assert guestimage.spec_fingerprint(spec(tmp_path / "b"), images.file_digest) != first


# --- the digest memo -----------------------------------------------------------------


def test_the_memo_rehashes_a_file_only_when_it_changed(tmp_path: Path) -> None:
    binary = tmp_path / "kubelet"
    binary.write_bytes(b"v1")
    memo = guestimage.DigestMemo(tmp_path / "memo.json")
    first = memo.digest(binary)
    memo.save()

    reloaded = guestimage.DigestMemo(tmp_path / "memo.json")
    assert reloaded.digest(binary) == first
    assert not reloaded.changed

    binary.write_bytes(b"v2")
    os.utime(binary, ns=(1, 1))
    assert reloaded.digest(binary) == images.file_digest(binary) != first


def test_a_damaged_memo_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "memo.json").write_text("{not json")
    binary = tmp_path / "kubelet"
    binary.write_bytes(b"v1")
    assert guestimage.DigestMemo(tmp_path / "memo.json").digest(binary) == images.file_digest(
        binary
    )


# --- the root's files ------------------------------------------------------------------


def test_containerd_uses_the_preloaded_pause_image_systemd_cgroups_and_debians_cni() -> None:
    config = guestimage.containerd_config()
    assert config.startswith("version = 2\n")
    assert f'sandbox_image = "{images.PAUSE_IMAGE}"' in config
    assert "SystemdCgroup = true" in config
    assert 'bin_dir = "/usr/lib/cni"' in config
    assert 'conf_dir = "/etc/cni/net.d"' in config
    assert 'snapshotter = "overlayfs"' in config


def test_the_root_loads_the_modules_and_sysctls_the_node_needs() -> None:
    files = guestimage.root_files()
    assert files["/etc/modules-load.d/g8s.conf"][0].split() == [
        "overlay",
        "br_netfilter",
        "qemu_fw_cfg",
    ]
    sysctls = files["/etc/sysctl.d/90-g8s.conf"][0]
    assert "net.ipv4.ip_forward = 1" in sysctls
    assert "net.bridge.bridge-nf-call-iptables = 1" in sysctls


def test_each_vm_gets_its_own_machine_id_and_no_build_machine_names() -> None:
    files = guestimage.root_files()
    assert files["/etc/machine-id"][0] == ""
    assert files["/etc/hostname"][0] == "localhost\n"
    assert files["/etc/resolv.conf"][0] == ""


def test_the_initramfs_holds_only_what_mounting_the_root_needs() -> None:
    files = guestimage.root_files()
    assert "MODULES=list" in files["/etc/initramfs-tools/conf.d/g8s"][0].split()
    assert files["/etc/initramfs-tools/modules"][0].split() == ["virtio_pci", "virtio_blk", "ext4"]


def test_the_first_boot_unit_runs_once_before_the_network_and_the_kubelet() -> None:
    unit = guestimage.root_files()["/etc/systemd/system/g8s-ignition.service"][0]
    assert "ConditionPathExists=!/var/lib/g8s/ignition.done" in unit
    assert "DefaultDependencies=no" in unit
    before = next(line for line in unit.splitlines() if line.startswith("Before=network-pre"))
    for name in ("systemd-networkd.service", "containerd.service", "kubelet.service"):
        assert name in before.split("=", 1)[1].split()
    assert "StandardError=journal+console" in unit
    assert guestimage.FIRST_BOOT_UNIT in guestimage.ENABLED_UNITS


def test_no_getty_on_the_serial_console() -> None:
    assert "serial-getty@ttyS0.service" in guestimage.MASKED_UNITS
    assert "getty@tty1.service" in guestimage.MASKED_UNITS


def test_roots_password_is_locked() -> None:
    shadow = "root::20000:0:99999:7:::\ndaemon:*:20000:0:99999:7:::\n"
    assert guestimage.lock_root(shadow) == (
        "root:!*:20000:0:99999:7:::\ndaemon:*:20000:0:99999:7:::\n"
    )


def test_root_raw_has_a_gib_free_in_whole_mib() -> None:
    mib = 1 << 20
    assert guestimage.image_size(700 * mib) == 700 * mib + (1 << 30)
    assert guestimage.image_size(700 * mib + 1) == 701 * mib + (1 << 30)


def test_the_temporary_containerd_keeps_its_store_in_the_root_and_the_rest_outside(
    tmp_path: Path,
) -> None:
    config = guestimage.loader_config(tmp_path / "root", tmp_path / "state")
    assert f'root = "{tmp_path / "root" / "var/lib/containerd"}"' in config
    assert f'state = "{tmp_path / "state" / "state"}"' in config
    assert '"io.containerd.grpc.v1.cri"' in config
    assert f'path = "{tmp_path / "state" / "opt"}"' in config


def test_the_link_points_at_the_newest_build(tmp_path: Path) -> None:
    link = tmp_path / ".tools" / "guest-image"
    guestimage.link(tmp_path / "one", link)
    guestimage.link(tmp_path / "two", link)
    assert link.readlink() == tmp_path / "two"


def test_the_cache_follows_g8s_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("G8S_CACHE", str(tmp_path))
    assert guestimage.guest_cache() == tmp_path / "guest"
    assert guestimage.guest_image_dir() == guestimage.ROOT / ".tools" / "guest-image"


def test_only_the_newest_builds_are_kept(tmp_path: Path) -> None:
    names = [f"{n:016x}" for n in range(5)]
    for age, name in enumerate(names):
        (tmp_path / name).mkdir()
        os.utime(tmp_path / name, ns=(age, age))
    (tmp_path / "base").mkdir()
    removed = guestimage.prune(tmp_path, keep=3)
    assert sorted(path.name for path in removed) == names[:2]
    assert sorted(path.name for path in tmp_path.iterdir()) == [*names[2:], "base"]
