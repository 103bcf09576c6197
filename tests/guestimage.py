"""The guest OS image that g8s VMs boot, built from Debian packages and Go modules only.

A directory ``<cache>/guest/<key>/`` (the cache folder is ``$G8S_CACHE``, as
for ``tests.images``) holding what the VM launcher boots by direct kernel
boot under QEMU:

- ``vmlinuz`` and ``initrd.img``: Debian's kernel and a lean initramfs
  (``MODULES=list``: only what mounting the virtio root needs);
- ``root.raw``: an ext4 filesystem image of a Debian bookworm root, made
  with ``mkfs.ext4 -d`` (no loop mount); each VM boots a qcow2 overlay on
  top of it, which may be larger (the root grows to the disk at boot);
- ``manifest.json``: those file names, the kernel command line, the
  Kubernetes version and the names of the images preloaded into containerd.

The root holds systemd, containerd, runc, the CNI plugins, the kubelet
(``/usr/local/bin/kubelet``, from ``.tools/bin``) and upstream Ignition
(``/usr/local/bin/ignition``, built by ``.ci/install-ignition.sh``). On first
boot ``g8s-ignition.service`` applies the Ignition config QEMU hands over
through fw_cfg (files, units; the kubelet's unit comes from there) and
starts the units it enabled. The pause image and single-layer kube-apiserver,
kube-controller-manager and kube-scheduler images are imported into
containerd's ``k8s.io`` namespace at build time, so the guest pulls nothing
and unpacks nothing.

The key is a digest of the inputs (this module's source, the package list,
the binaries and the preloaded images' files), so building again when
nothing changed is a no-op, and ``.tools/guest-image`` links the newest
build for code that does not know the key.

``python -m tests.guestimage build`` builds it and prints its directory.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests import images
from tests.images import ImageError, ImageSpec, run

ROOT = images.ROOT
BIN = images.BIN
GUEST_LINK = ROOT / ".tools" / "guest-image"
IGNITION_INSTALLER = ROOT / ".ci" / "install-ignition.sh"
CONTROLPLANE_GO_MOD = ROOT / ".ci" / "tools" / "controlplane" / "go.mod"

SUITE = "bookworm"
PACKAGES = (
    "systemd-sysv",
    "udev",
    "kmod",
    "iproute2",
    "containerd",
    "runc",
    "containernetworking-plugins",
    "iptables",
    "conntrack",
    "linux-image-amd64",
    "initramfs-tools",
    # logind (which needs D-Bus) turns the ACPI power button the launcher
    # presses into a clean power-off, and gives the kubelet the inhibitor
    # lock its graceful node shutdown waits on.
    "dbus",
)
# Bump when the image's layout changes in a way the inputs do not show.
BUILD_FORMAT = "1"

KERNEL = "vmlinuz"
INITRD = "initrd.img"
ROOT_IMAGE = "root.raw"
MANIFEST = "manifest.json"
APPEND = "root=/dev/vda rw console=ttyS0 quiet panic=-1"
ROOT_LABEL = "g8s-root"
# Builds are directories named after the key's first 16 hex digits.
BUILD_NAME = re.compile(r"[0-9a-f]{16}")
KEPT_BUILDS = 3
# Free room in root.raw beyond its content, for the first boot's writes even
# when the VM's disk is no larger than the image.
FREE_BYTES = 1 << 30

CONTROLPLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
IMAGE_REGISTRY = "g8s.local"
# The kubelet and Ignition are installed into the root; the control plane
# runs as static pods from the preloaded images.
INSTALLED_BINARIES = {"kubelet": "/usr/local/bin/kubelet", "ignition": "/usr/local/bin/ignition"}

# The first boot's script and unit, as files of their own (see their comments).
GUEST_FILES = ROOT / ".ci" / "guest"
FIRST_BOOT_SCRIPT = "/usr/local/lib/g8s/first-boot"
FIRST_BOOT_UNIT = "g8s-ignition.service"

# Kernel module trees nothing in a virtio VM that runs containers loads:
# hardware a VM never has (its disk and NIC are virtio), and filesystems for
# clusters and flash chips. About 260 MB of the kernel's 396 MB.
PRUNED_MODULES = (
    "sound",
    "drivers/gpu",
    "drivers/media",
    "drivers/infiniband",
    "drivers/net/wireless",
    "drivers/net/ethernet",
    "drivers/net/usb",
    "drivers/net/can",
    "drivers/net/wwan",
    "drivers/net/ieee802154",
    "drivers/usb",
    "drivers/iio",
    "drivers/hwmon",
    "drivers/staging",
    "drivers/hid",
    "drivers/isdn",
    "drivers/bluetooth",
    "drivers/comedi",
    "drivers/mtd",
    "drivers/thunderbolt",
    "drivers/target",
    "drivers/mmc",
    "drivers/video",
    "drivers/platform",
    "net/wireless",
    "net/mac80211",
    "net/bluetooth",
    "fs/ocfs2",
    "fs/gfs2",
    "fs/dlm",
    "fs/ubifs",
    "fs/nilfs2",
    "fs/f2fs",
    "fs/afs",
)
# What the lean initramfs loads to mount the root; everything else is loaded
# from the root once it is mounted.
INITRAMFS_MODULES = ("virtio_pci", "virtio_blk", "ext4")
# Loaded at boot: container layers, bridged pod traffic through iptables,
# and the fw_cfg sysfs driver Ignition reads its config from.
BOOT_MODULES = ("overlay", "br_netfilter", "qemu_fw_cfg")
SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    "net.bridge.bridge-nf-call-iptables": "1",
    "net.bridge.bridge-nf-call-ip6tables": "1",
}
MASKED_UNITS = (
    # Consoles stay free for the boot messages: a getty on the serial line
    # would compete with them, and nobody logs in (root's password is locked).
    "serial-getty@ttyS0.service",
    "getty@tty1.service",
    "getty-static.service",
    # It would prompt on the console for a locale and a root password.
    "systemd-firstboot.service",
    # Work for hardware and set-ups a VM does not have, each costing
    # emulated CPU at every boot: pstore, device mapper, network settings
    # on the kernel command line (the network comes from Ignition).
    "systemd-pstore.service",
    "modprobe@efi_pstore.service",
    "modprobe@dm_mod.service",
    "systemd-network-generator.service",
    # Maintenance of a long-lived machine; VMs are replaced instead.
    "dpkg-db-backup.timer",
    "fstrim.timer",
)
# The build machine's package sources: the guest installs nothing.
REMOVED_FILES = ("/etc/apt/sources.list", "/etc/apt/sources.list.d/*")
ENABLED_UNITS = ("systemd-networkd.service", "containerd.service", FIRST_BOOT_UNIT)


def log(message: str) -> None:
    print(f"guest-image: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def timed(step: str, times: dict[str, float]) -> Iterator[None]:
    """Record how long ``step`` took in ``times`` and say so on stderr."""
    start = time.monotonic()
    yield
    times[step] = round(time.monotonic() - start, 1)
    log(f"{step}: {times[step]}s")


# --- where things are ----------------------------------------------------------


def cache_root() -> Path:
    """The cache folder ($G8S_CACHE): tests.images keeps its archives in ``images`` below it."""
    return images.default_cache().parent


def guest_cache(cache: Path | None = None) -> Path:
    return (cache or cache_root()) / "guest"


def guest_image_dir() -> Path:
    """The newest guest image, whatever its key: ``.tools/guest-image``, a link into the cache."""
    return GUEST_LINK


def kubernetes_version(go_mod: Path = CONTROLPLANE_GO_MOD) -> str:
    """The Kubernetes version the control plane binaries are built at ("1.34.4")."""
    for line in go_mod.read_text().splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0] == "k8s.io/kubernetes":
            return fields[1].removeprefix("v")
    raise ImageError(f"{go_mod} does not require k8s.io/kubernetes")


# --- the preloaded images -------------------------------------------------------


def parse_ldd(output: str) -> dict[str, Path]:
    """The shared objects ``ldd`` lists, by the path the dynamic loader looks for them at.

    ``libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)`` gives the right
    side; the loader's own line (``/lib64/ld-linux-x86-64.so.2 (0x...)``)
    gives itself; the kernel's vDSO has no file.
    """
    found: dict[str, Path] = {}
    for line in output.splitlines():
        text = re.sub(r"\s*\(0x[0-9a-f]+\)$", "", line.strip())
        if "=>" in text:
            text = text.split("=>", 1)[1].strip()
        if text.startswith("/"):
            found[text] = Path(text)
        elif text and "vdso" not in text:
            raise ImageError(f"ldd cannot resolve {line.strip()!r}")
    return found


def component_image(name: str, version: str) -> str:
    return f"{IMAGE_REGISTRY}/{name}:v{version}"


def component_spec(name: str, binary: Path, version: str) -> ImageSpec:
    """A single-layer image: the binary at /usr/local/bin and the C libraries it links."""
    target = f"/usr/local/bin/{name}"
    libraries = parse_ldd(run(["ldd", binary], timeout=30))
    return ImageSpec(
        name=component_image(name, version),
        files={target: binary, **libraries},
        entrypoint=(target,),
    )


def component_specs(version: str, bin_dir: Path = BIN) -> list[ImageSpec]:
    return [component_spec(name, bin_dir / name, version) for name in CONTROLPLANE]


def preloaded_names(version: str) -> list[str]:
    return [images.PAUSE_IMAGE, *(component_image(name, version) for name in CONTROLPLANE)]


# --- the key ---------------------------------------------------------------------


class DigestMemo:
    """File digests remembered by path, size, mtime and inode, so a no-op rebuild rereads nothing.

    The binaries are a few hundred MB; hashing them all would take most of a
    second on every call.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, list[Any]] = {}
        with contextlib.suppress(OSError, ValueError):
            self.entries = dict(json.loads(path.read_text()))
        self.changed = False

    def digest(self, file: Path) -> str:
        st = file.stat()
        stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
        entry = self.entries.get(str(file))
        if entry is not None and entry[:3] == stamp:
            return str(entry[3])
        digest = images.file_digest(file)
        self.entries[str(file)] = [*stamp, digest]
        self.changed = True
        return digest

    def save(self) -> None:
        if self.changed:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            staged = self.path.with_suffix(".partial")
            staged.write_text(json.dumps(self.entries, sort_keys=True))
            os.replace(staged, self.path)
            self.changed = False


@dataclass(frozen=True)
class Plan:
    """One build: its key, the Kubernetes version, the binaries installed, the images preloaded."""

    key: str
    version: str
    binaries: Mapping[str, Path]
    specs: tuple[ImageSpec, ...]

    @property
    def names(self) -> list[str]:
        return preloaded_names(self.version)


def spec_fingerprint(spec: ImageSpec, digest: Any) -> dict[str, Any]:
    """What an image is made of, as tests.images.content_key, file contents by ``digest``."""
    return {
        "name": spec.name,
        "entrypoint": list(spec.entrypoint),
        "env": sorted(spec.env.items()),
        "symlinks": sorted(spec.symlinks.items()),
        "files": sorted(
            (path, digest(host), host.stat().st_mode & 0o7777) for path, host in spec.files.items()
        ),
    }


def guest_key(
    builder: Sequence[bytes],
    binaries: Mapping[str, str],
    preloaded: Sequence[Mapping[str, Any]],
    packages: Sequence[str] = PACKAGES,
) -> str:
    """sha256 over everything the image is made of: how, from which packages and which files."""
    described = {
        "format": BUILD_FORMAT,
        "builder": [hashlib.sha256(source).hexdigest() for source in builder],
        "suite": SUITE,
        "packages": sorted(packages),
        "binaries": sorted(binaries.items()),
        "images": list(preloaded),
    }
    text = json.dumps(described, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def manifest(key: str, version: str, names: Sequence[str]) -> dict[str, Any]:
    """manifest.json: what the launcher boots, and what the image carries."""
    return {
        "kernel": KERNEL,
        "initrd": INITRD,
        "root": ROOT_IMAGE,
        "append": APPEND,
        "kubernetesVersion": version,
        "images": list(names),
        "key": key,
    }


# --- files written into the root ---------------------------------------------------


def containerd_config() -> str:
    """containerd in the guest: the preloaded pause image, systemd cgroups, Debian's CNI."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""\
version = 2
# Snapshotters and tracing nothing here uses: fewer plugins to start under emulation.
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[{cri}]
  # Preloaded at build time: the guest pulls nothing.
  sandbox_image = "{images.PAUSE_IMAGE}"
  # The kernel has AppArmor but the root has no apparmor_parser to load profiles.
  disable_apparmor = true

[{cri}.containerd]
  # The preloaded images were unpacked with this snapshotter.
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  # cgroup v2 under systemd: one cgroup manager, as the kubelet's cgroupDriver.
  SystemdCgroup = true

[{cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "/etc/cni/net.d"
"""


def root_files() -> dict[str, tuple[str, int]]:
    """Files written into the root: path -> (content, mode)."""
    return {
        "/etc/containerd/config.toml": (containerd_config(), 0o644),
        "/etc/modules-load.d/g8s.conf": ("".join(f"{m}\n" for m in BOOT_MODULES), 0o644),
        "/etc/sysctl.d/90-g8s.conf": ("".join(f"{k} = {v}\n" for k, v in SYSCTLS.items()), 0o644),
        "/etc/systemd/journald.conf.d/g8s.conf": ("[Journal]\nStorage=volatile\n", 0o644),
        # The root is mounted by the kernel (root= rw); this entry only lets
        # systemd grow it to a VM disk larger than the image.
        "/etc/fstab": ("/dev/vda / ext4 rw,x-systemd.growfs 0 0\n", 0o644),
        "/etc/initramfs-tools/modules": ("".join(f"{m}\n" for m in INITRAMFS_MODULES), 0o644),
        "/etc/initramfs-tools/conf.d/g8s": ("MODULES=list\nRESUME=none\n", 0o644),
        # Empty: systemd makes a machine ID of each VM's own at its first boot.
        "/etc/machine-id": ("", 0o444),
        # mmdebstrap copied these from the build machine; Ignition writes the
        # VM's own hostname (and resolv.conf, if it wants DNS).
        "/etc/hostname": ("localhost\n", 0o644),
        "/etc/resolv.conf": ("", 0o644),
        FIRST_BOOT_SCRIPT: ((GUEST_FILES / "first-boot").read_text(), 0o755),
        f"/etc/systemd/system/{FIRST_BOOT_UNIT}": (
            (GUEST_FILES / FIRST_BOOT_UNIT).read_text(),
            0o644,
        ),
    }


def lock_root(shadow: str) -> str:
    """/etc/shadow with root's password field locked ("!*"): nobody logs in with a password."""
    lines = []
    for line in shadow.splitlines():
        fields = line.split(":")
        if fields[0] == "root" and len(fields) > 1:
            fields[1] = "!*"
        lines.append(":".join(fields))
    return "\n".join(lines) + "\n"


# --- building the root ----------------------------------------------------------------


def base_tar(cache: Path) -> Path:
    """The Debian root with the packages installed, as mmdebstrap's tar, built once per list."""
    key = hashlib.sha256(f"{SUITE}:{','.join(sorted(PACKAGES))}".encode()).hexdigest()[:16]
    out = cache / "base" / f"debian-{SUITE}-{key}.tar"
    options = ['--aptopt=APT::Install-Recommends "false"']
    return images.debian_tar(out, SUITE, PACKAGES, options=options, timeout=1800)


def in_root(rootfs: Path, script: str, timeout: float = 600) -> str:
    """Run a shell script chrooted into ``rootfs``, with /proc mounted.

    In a mount namespace of its own: the mount vanishes with the process,
    so nothing is left mounted inside a tree that is deleted afterwards.
    """
    return run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            'mount -t proc proc "$0/proc" && exec chroot "$0" /bin/sh -euc "$1"',
            rootfs,
            script,
        ],
        timeout=timeout,
    )


def kernel_version(rootfs: Path) -> str:
    versions = [p.name for p in (rootfs / "usr/lib/modules").iterdir() if p.is_dir()]
    if len(versions) != 1:
        raise ImageError(f"expected one kernel in the root, found {versions}")
    return versions[0]


def prune_modules(rootfs: Path, version: str) -> None:
    kernel = rootfs / "usr/lib/modules" / version / "kernel"
    for tree in PRUNED_MODULES:
        shutil.rmtree(kernel / tree, ignore_errors=True)


def write_root_files(rootfs: Path) -> None:
    for path, (content, mode) in root_files().items():
        target = rootfs / images.image_path(path)
        images.make_dirs(rootfs, images.image_path(path).parent)
        target.unlink(missing_ok=True)
        target.write_text(content)
        target.chmod(mode)
    for leftover in REMOVED_FILES:
        for found in rootfs.glob(str(images.image_path(leftover))):
            found.unlink()
    shadow = rootfs / "etc/shadow"
    shadow.write_text(lock_root(shadow.read_text()))


def install_binaries(rootfs: Path, binaries: Mapping[str, Path]) -> None:
    for name, target in INSTALLED_BINARIES.items():
        dest = rootfs / images.image_path(target)
        images.make_dirs(rootfs, images.image_path(target).parent)
        shutil.copyfile(binaries[name], dest)
        dest.chmod(0o755)


def configure_in_root(rootfs: Path, version: str) -> None:
    """Units enabled and masked, module index rebuilt, the lean initramfs made."""
    in_root(
        rootfs,
        f"systemctl enable {' '.join(ENABLED_UNITS)}\n"
        f"systemctl mask {' '.join(MASKED_UNITS)}\n"
        f"depmod {version}\n"
        f"update-initramfs -c -k {version}\n",
    )


def take_boot_files(rootfs: Path, version: str, out: Path) -> None:
    """Move the kernel and initramfs out of the root: QEMU boots them, nothing reads /boot."""
    boot = rootfs / "boot"
    shutil.move(boot / f"vmlinuz-{version}", out / KERNEL)
    shutil.move(boot / f"initrd.img-{version}", out / INITRD)
    for leftover in boot.iterdir():
        leftover.unlink()


# --- preloading images into containerd ---------------------------------------------------


def loader_config(rootfs: Path, state: Path) -> str:
    """A containerd that writes its store into the root and everything else into ``state``."""
    return f"""\
version = 2
root = "{rootfs / "var/lib/containerd"}"
state = "{state / "state"}"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{state / "containerd.sock"}"

[ttrpc]
  address = "{state / "containerd.ttrpc.sock"}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{state / "opt"}"
"""


@contextlib.contextmanager
def loader(rootfs: Path) -> Iterator[Path]:
    """A temporary containerd over the root's /var/lib/containerd; yields its socket.

    It runs in a mount namespace of its own, so the mounts it makes while
    unpacking never show on the machine, even if it is killed.
    """
    # Short: a Unix socket path has at most 107 bytes.
    with tempfile.TemporaryDirectory(prefix="g8s-ctrd-") as tmp:
        state = Path(tmp)
        config = state / "config.toml"
        config.write_text(loader_config(rootfs, state))
        socket = state / "containerd.sock"
        with (state / "containerd.log").open("w") as out:
            proc = subprocess.Popen(
                [
                    "unshare",
                    "--mount",
                    "--propagation",
                    "private",
                    "containerd",
                    "--config",
                    config,
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for_containerd(proc, socket, state / "containerd.log")
            yield socket
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_for_containerd(proc: subprocess.Popen[bytes], socket: Path, log_file: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ImageError(
                f"containerd exited {proc.returncode}:\n{log_file.read_text()[-2000:]}"
            )
        if socket.exists():
            with contextlib.suppress(ImageError):
                run(["ctr", "--address", socket, "version"], timeout=10)
                return
        time.sleep(0.2)
    raise ImageError(f"containerd did not answer within 60s:\n{log_file.read_text()[-2000:]}")


def preload(rootfs: Path, archives: Sequence[Path], names: Sequence[str]) -> None:
    """Import and unpack the archives into the root's containerd, namespace k8s.io."""
    with loader(rootfs) as socket:
        ctr: list[str | Path] = ["ctr", "--address", socket, "--namespace", "k8s.io"]
        for archive in archives:
            run([*ctr, "images", "import", "--snapshotter", "overlayfs", archive], timeout=600)
        listed = set(run([*ctr, "images", "ls", "-q"]).split())
    missing = sorted(set(names) - listed)
    if missing:
        raise ImageError(f"containerd in the root lacks {missing} after the import")


def image_archives(specs: Sequence[ImageSpec], cache: Path, work: Path) -> list[Path]:
    """The OCI archives of the pause image and ``specs``, built or found in ``cache``."""
    return [images.build(spec, cache) for spec in (images.pause_spec(work), *specs)]


# --- the filesystem image ---------------------------------------------------------------


def tree_bytes(rootfs: Path) -> int:
    return int(run(["du", "-s", "--block-size=1", rootfs]).split()[0])


def image_size(used: int, free: int = FREE_BYTES) -> int:
    """root.raw's size: the content plus ``free``, in whole MiB."""
    mib = 1 << 20
    return -(-(used + free) // mib) * mib


def make_filesystem(rootfs: Path, dest: Path) -> None:
    """ext4 holding ``rootfs`` with its owners, modes, links and xattrs (mkfs.ext4 -d).

    Inode tables and journal are initialised here, not lazily in the guest,
    where the background zeroing would cost emulated CPU and overlay space.
    """
    with dest.open("wb") as handle:
        handle.truncate(image_size(tree_bytes(rootfs)))
    run(
        [
            "mkfs.ext4",
            "-q",
            "-F",
            "-L",
            ROOT_LABEL,
            "-E",
            "lazy_itable_init=0,lazy_journal_init=0",
            "-d",
            rootfs,
            dest,
        ],
        timeout=900,
    )


# --- the whole build ---------------------------------------------------------------------


def ignition_binary() -> Path:
    """Ignition in .tools/bin, built (or copied from the cache folder) by its installer."""
    run([IGNITION_INSTALLER, ROOT / ".tools"], timeout=1800)
    return BIN / "ignition"


def build_root(rootfs: Path, cache: Path, plan: Plan) -> dict[str, float]:
    """Make the guest's root in ``rootfs`` (empty); the kernel stays in its /boot."""
    times: dict[str, float] = {}
    with timed("debian root (mmdebstrap, cached per package list)", times):
        base = base_tar(guest_cache(cache))
    with timed("unpack the root", times):
        run(["tar", "-xpf", base, "--numeric-owner", "--xattrs", "-C", rootfs], timeout=600)
    version = kernel_version(rootfs)
    with timed("configure the root and the initramfs", times):
        prune_modules(rootfs, version)
        install_binaries(rootfs, plan.binaries)
        write_root_files(rootfs)
        configure_in_root(rootfs, version)
    with timed("preload images into containerd", times), tempfile.TemporaryDirectory() as work:
        archives = image_archives(plan.specs, cache / "images", Path(work))
        preload(rootfs, archives, plan.names)
    return times


def assemble(out: Path, cache: Path, plan: Plan) -> None:
    """Build everything the image directory holds into ``out``."""
    rootfs = out / ".rootfs"
    rootfs.mkdir()
    times = build_root(rootfs, cache, plan)
    take_boot_files(rootfs, kernel_version(rootfs), out)
    with timed("mkfs.ext4 -d", times):
        make_filesystem(rootfs, out / ROOT_IMAGE)
    shutil.rmtree(rootfs)
    (out / "build-times.json").write_text(json.dumps(times, indent=2) + "\n")
    document = manifest(plan.key, plan.version, plan.names)
    (out / MANIFEST).write_text(json.dumps(document, indent=2) + "\n")


def link(target: Path, link_path: Path = GUEST_LINK) -> None:
    """Point ``link_path`` at ``target``, replacing an older link in one step."""
    link_path.parent.mkdir(parents=True, exist_ok=True)
    staged = link_path.with_name(f".{link_path.name}.new")
    staged.unlink(missing_ok=True)
    staged.symlink_to(target)
    os.replace(staged, link_path)


def builder_sources() -> list[bytes]:
    """This module and the files it copies into the root, in a fixed order."""
    files = [Path(__file__), *sorted(GUEST_FILES.iterdir())]
    return [path.read_bytes() for path in files]


def plan_build(cache: Path) -> Plan:
    """What the image is made of, and its key; hashes only files that changed since last time."""
    memo = DigestMemo(guest_cache(cache) / "digests.json")
    version = kubernetes_version()
    binaries = {"kubelet": BIN / "kubelet", "ignition": ignition_binary()}
    specs = tuple(component_specs(version))
    key = guest_key(
        builder=builder_sources(),
        binaries={
            **{name: memo.digest(path) for name, path in binaries.items()},
            "pause.c": memo.digest(images.PAUSE_SOURCE),
        },
        preloaded=[spec_fingerprint(spec, memo.digest) for spec in specs],
    )
    memo.save()
    return Plan(key=key, version=version, binaries=binaries, specs=specs)


def prune(guests: Path, keep: int = KEPT_BUILDS) -> list[Path]:
    """Remove all but the ``keep`` newest builds (a GB each); return what was removed.

    More than the newest stay: running VMs' overlays may be backed by an
    older build's root.raw.
    """
    builds = sorted(
        (path for path in guests.iterdir() if BUILD_NAME.fullmatch(path.name)),
        key=lambda path: path.stat().st_mtime_ns,
        reverse=True,
    )
    for old in builds[keep:]:
        shutil.rmtree(old)
    return builds[keep:]


def build_guest_image(cache: Path | None = None) -> Path:
    """The guest image's directory, built unless one with the same inputs is there.

    The directory appears whole or not at all (built beside, then renamed).
    """
    cache = cache or cache_root()
    plan = plan_build(cache)
    guests = guest_cache(cache)
    out = guests / plan.key[:16]
    if not (out / MANIFEST).is_file():
        guests.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".build-", dir=guests) as tmp:
            staged = Path(tmp) / "image"
            staged.mkdir()
            assemble(staged, cache, plan)
            os.replace(staged, out)
        for old in prune(guests):
            log(f"removed the older build {old.name}")
    link(out)
    return out


# --- command line -----------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.guestimage", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    cmd = commands.add_parser("build", help="build (or find cached) the guest image")
    cmd.add_argument("--cache", type=Path, default=None, help="cache folder (default: G8S_CACHE)")
    args = parser.parse_args(argv)
    start = time.monotonic()
    try:
        out = build_guest_image(args.cache)
    except (ImageError, OSError, ValueError, subprocess.SubprocessError) as exc:
        print(f"guest-image: {exc}", file=sys.stderr)
        return 1
    log(f"ready in {time.monotonic() - start:.1f}s")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
