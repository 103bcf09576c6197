"""The guest OS image and the VM's disk: a qcow2 overlay over the image's root.

A guest image is a read-only directory shared by every VM of a host::

    manifest.json   {"kernel": "vmlinuz", "initrd": "initrd.img",
                     "root": "root.raw", "append": "root=/dev/vda rw console=ttyS0"}
    vmlinuz, initrd.img, root.raw (an ext4 image)

Each VM writes only to its own ``disk.qcow2`` on its disk volume, whose
backing file is the image's root. The overlay is made once (under a
temporary name, then renamed, so a launcher killed half-way leaves no
half-made disk), and a restarted pod boots the same overlay: the VM's state
survives the pod. The backing file is named by its path in the pod, so the
guest image must be mounted at the same place in every launcher pod.
"""

import dataclasses
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from operators.kvm.launcher.config import LauncherConfig

MANIFEST = "manifest.json"
OVERLAY = "disk.qcow2"
PARTIAL = ".disk.qcow2.partial"
MANIFEST_KEYS = ("kernel", "initrd", "root", "append")
QEMU_IMG_TIMEOUT = 120


class GuestError(RuntimeError):
    """The guest image or the VM's disk cannot be used."""


@dataclass(frozen=True)
class Manifest:
    kernel: str
    initrd: str
    root: str
    append: str


def _file_name(key: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise GuestError(f"{MANIFEST}: {key} must be a file name, got {value!r}")
    path = PurePosixPath(value)
    # The files must stay inside the image directory (it is all that is mounted).
    if path.is_absolute() or ".." in path.parts:
        raise GuestError(f"{MANIFEST}: {key} {value!r} is not a path inside the image")
    return value


def parse_manifest(text: str) -> Manifest:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise GuestError(f"{MANIFEST} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise GuestError(f"{MANIFEST} must be an object")
    missing = [key for key in MANIFEST_KEYS if key not in data]
    if missing:
        raise GuestError(f"{MANIFEST} lacks {', '.join(missing)}")
    append = data["append"]
    if not isinstance(append, str):
        raise GuestError(f"{MANIFEST}: append must be a string, got {append!r}")
    return Manifest(
        kernel=_file_name("kernel", data["kernel"]),
        initrd=_file_name("initrd", data["initrd"]),
        root=_file_name("root", data["root"]),
        append=append,
    )


def read_manifest(guest_dir: str) -> Manifest:
    path = Path(guest_dir) / MANIFEST
    try:
        return parse_manifest(path.read_text())
    except OSError as exc:
        raise GuestError(f"no guest image manifest: {path}: {exc.strerror}") from None


def create_overlay_argv(qemu_img: str, backing: str, overlay: str, size_gib: int) -> list[str]:
    argv = [qemu_img, "create", "-q", "-f", "qcow2", "-F", "raw", "-b", backing, overlay]
    if size_gib:
        argv.append(f"{size_gib}G")
    return argv


def ensure_overlay(qemu_img: str, backing: str, disk_dir: str, size_gib: int) -> tuple[str, bool]:
    """The overlay's path, and whether it was made now (False: an earlier start made it)."""
    overlay = os.path.join(disk_dir, OVERLAY)
    if os.path.exists(overlay):
        return overlay, False
    if not os.path.isfile(backing):
        raise GuestError(f"the guest image has no root file {backing}")
    partial = os.path.join(disk_dir, PARTIAL)
    # Left by a launcher killed while making it: never booted, safe to redo.
    if os.path.exists(partial):
        os.unlink(partial)
    argv = create_overlay_argv(qemu_img, backing, partial, size_gib)
    try:
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=QEMU_IMG_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GuestError(f"{qemu_img} create failed: {exc}") from None
    if proc.returncode != 0:
        raise GuestError(f"{qemu_img} create exited {proc.returncode}: {proc.stderr.strip()}")
    os.replace(partial, overlay)
    return overlay, True


def prepare(config: LauncherConfig) -> tuple[LauncherConfig, dict[str, object]]:
    """``config`` with the guest image's boot files and the VM's disk filled in.

    Settings given explicitly (kernel, initrd, append) win over the manifest.
    Also returns what was done, for the log.
    """
    done: dict[str, object] = {}
    if not config.guest_dir:
        return config, done
    manifest = read_manifest(config.guest_dir)
    guest = Path(config.guest_dir)
    config = dataclasses.replace(
        config,
        kernel=config.kernel or str(guest / manifest.kernel),
        initrd=config.initrd or str(guest / manifest.initrd),
        append=config.append or manifest.append,
    )
    done["guest_dir"] = config.guest_dir
    if config.disk_dir:
        backing = str(guest / manifest.root)
        overlay, created = ensure_overlay(
            config.qemu_img, backing, config.disk_dir, config.disk_gib
        )
        config = dataclasses.replace(config, disk=overlay, disk_format="qcow2")
        done.update(disk=overlay, backing=backing, created=created)
    return config, done
