"""OCI images for the local environment's real node, built without a registry or docker.

The real node's containerd can only run what it has: nothing is pulled. So
the two images its pods need are assembled here from files already on the
machine, with Debian's ``umoci`` (which edits an OCI image layout on disk),
and handed to ``ctr images import`` as OCI archives:

- ``g8s.local/pause:3.10``, the pod sandbox: a static pause binary compiled
  from ``.ci/images/pause.c``;
- ``g8s.local/etcd:<version>``, the etcd members: busybox (for the member
  and restore scripts' ``/bin/sh``), etcd and etcdutl, all static.

Each archive is cached under a name holding a hash of everything that goes
into it (``content_key``), so building again when nothing changed is a no-op
and a changed input never reuses a stale archive.

``python -m tests.images build --cache DIR --busybox P --etcd P --etcdutl P
--etcd-version V`` builds both and prints one line per image; with
``--operators`` also the two images made of Debian packages and the project:
``g8s.local/operators:<key>`` and the VM launcher ``g8s.local/launcher:<key>``
(the same plus QEMU and qemu-img), which ``tests/install.py`` imports.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PAUSE_SOURCE = ROOT / ".ci" / "images" / "pause.c"
BUSYBOX = ROOT / ".tools" / "debs" / "busybox-static" / "bin" / "busybox"
BIN = ROOT / ".tools" / "bin"

PAUSE_IMAGE = "g8s.local/pause:3.10"
ETCD_REPOSITORY = "g8s.local/etcd"
ETCD_PATH = "/usr/local/bin:/bin"
# What the etcd member and restore scripts (operators/etcd/scripts.py) call.
REQUIRED_APPLETS = ("sh", "cat", "echo", "sha256sum", "mv", "rm")

# containerd names an imported image after this annotation of its manifest
# descriptor in index.json; umoci only writes the OCI one, which holds the tag.
IMAGE_NAME_ANNOTATION = "io.containerd.image.name"
REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"

# Part of every content key: bump it when the way images are built changes,
# so archives built the old way are not reused.
BUILD_FORMAT = "1"


class ImageError(RuntimeError):
    """An image could not be built."""


@dataclass(frozen=True)
class ImageSpec:
    """Everything an image holds: files, symlinks and the start configuration.

    ``files`` maps a path in the image to the host file copied there (its mode
    kept); ``symlinks`` maps a path in the image to the link's target.
    """

    name: str
    files: Mapping[str, Path]
    symlinks: Mapping[str, str] = field(default_factory=dict)
    entrypoint: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        return split_name(self.name)[1]


def split_name(name: str) -> tuple[str, str]:
    """``repository:tag`` split in two; a tag is required (no ``latest`` by default)."""
    repository, sep, tag = name.rpartition(":")
    if (
        not sep
        or not repository
        or "/" in tag
        or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}", tag)
    ):
        raise ValueError(f"image name {name!r} has no valid tag")
    return repository, tag


def image_path(path: str) -> PurePosixPath:
    """A path in the image, relative to its root; absolute and without ``..`` on input."""
    pure = PurePosixPath(path)
    if not pure.is_absolute() or ".." in pure.parts or pure == PurePosixPath("/"):
        raise ValueError(f"{path!r} is not an absolute path to a file in the image")
    return pure.relative_to("/")


def archive_name(name: str, key: str) -> str:
    """The cached archive's file name: the image name made file-safe, and the key."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
    return f"{safe}-{key[:16]}.tar"


def file_digest(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def content_key(spec: ImageSpec) -> str:
    """sha256 over all the image is made of: names, configuration, file contents and modes.

    File contents are hashed rather than paths or times, so rebuilding the
    same bytes elsewhere (or later) still hits the cache.
    """
    described = {
        "format": BUILD_FORMAT,
        "name": spec.name,
        "entrypoint": list(spec.entrypoint),
        "env": sorted(spec.env.items()),
        "symlinks": sorted(spec.symlinks.items()),
        "files": sorted(
            (path, file_digest(host), stat.S_IMODE(host.stat().st_mode))
            for path, host in spec.files.items()
        ),
    }
    text = json.dumps(described, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def config_args(spec: ImageSpec) -> list[str]:
    """``umoci config`` options setting the entrypoint and environment (sorted)."""
    args: list[str] = []
    for arg in spec.entrypoint:
        args += ["--config.entrypoint", arg]
    for key, value in sorted(spec.env.items()):
        args += ["--config.env", f"{key}={value}"]
    return args


def annotate_index(index: Mapping[str, Any], name: str) -> dict[str, Any]:
    """index.json with the manifest tagged ``name``'s tag also carrying containerd's name.

    The OCI ref name (the bare tag umoci wrote) stays; ``ctr images import``
    prefers the containerd annotation, so the image is imported as ``name``.
    """
    tag = split_name(name)[1]
    annotated = copy.deepcopy(dict(index))
    found = False
    for descriptor in annotated.get("manifests", []):
        annotations = descriptor.setdefault("annotations", {})
        if annotations.get(REF_NAME_ANNOTATION) == tag:
            annotations[IMAGE_NAME_ANNOTATION] = name
            found = True
    if not found:
        raise ImageError(f"index.json has no manifest tagged {tag!r}")
    return annotated


def busybox_links(applets: Iterable[str]) -> dict[str, str]:
    """/bin/<applet> -> busybox for every applet, so the image has a shell and coreutils."""
    names = {a.strip() for a in applets} - {"", "busybox"}
    if any("/" in a for a in names):
        raise ValueError(f"unexpected applet names: {sorted(a for a in names if '/' in a)}")
    missing = [a for a in REQUIRED_APPLETS if a not in names]
    if missing:
        raise ImageError(f"busybox lacks applets: {', '.join(missing)}")
    return {f"/bin/{a}": "busybox" for a in sorted(names)}


# --- specs --------------------------------------------------------------------


def run(cmd: Sequence[str | Path], timeout: float = 300) -> str:
    """Run a command quietly; on failure raise ImageError with its stderr."""
    proc = subprocess.run(
        [str(a) for a in cmd],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        command = " ".join(str(a) for a in cmd)
        raise ImageError(f"`{command}` exited {proc.returncode}:\n{proc.stderr.strip()}")
    return proc.stdout


def pause_spec(work: Path) -> ImageSpec:
    """The pause image: .ci/images/pause.c compiled statically into ``work``.

    gcc's output is the same for the same source and compiler, so the
    content key (and the cached archive) survive a recompilation.
    """
    binary = work / "pause"
    run(["gcc", "-static", "-O2", "-o", binary, PAUSE_SOURCE])
    return ImageSpec(name=PAUSE_IMAGE, files={"/pause": binary}, entrypoint=("/pause",))


def etcd_image(version: str) -> str:
    """The etcd image's name for ``version`` ("3.6.16"), as the etcd operator's setting wants it."""
    return f"{ETCD_REPOSITORY}:{version.removeprefix('v')}"


def etcd_spec(busybox: Path, etcd: Path, etcdutl: Path, version: str) -> ImageSpec:
    """The etcd member image: busybox with all its applets in /bin, etcd, etcdutl, etcdctl.

    etcdctl is looked up beside ``etcdutl``.

    ``version`` is the tag: the etcd operator names member images after the
    cluster's spec.version (``g8s.local/etcd:{version}``).
    """
    applets = run([busybox, "--list"], timeout=30).split()
    return ImageSpec(
        name=f"{ETCD_REPOSITORY}:{version}",
        files={
            "/bin/busybox": busybox,
            "/usr/local/bin/etcd": etcd,
            "/usr/local/bin/etcdutl": etcdutl,
            "/usr/local/bin/etcdctl": etcdutl.with_name("etcdctl"),
        },
        symlinks=busybox_links(applets),
        entrypoint=("/usr/local/bin/etcd",),
        env={"PATH": ETCD_PATH},
    )


# --- building -----------------------------------------------------------------


def umoci(*args: str | Path) -> str:
    return run(["umoci", *args])


def make_dirs(rootfs: Path, directory: PurePosixPath) -> None:
    """Create ``directory`` under ``rootfs`` world-readable, whatever the umask."""
    current = rootfs
    for part in directory.parts:
        current = current / part
        if not current.is_dir():
            current.mkdir()
            current.chmod(0o755)


def populate(rootfs: Path, spec: ImageSpec) -> None:
    """Copy the spec's files (contents and modes) and create its symlinks in ``rootfs``."""
    overlap = set(map(image_path, spec.files)) & set(map(image_path, spec.symlinks))
    if overlap:
        raise ImageError(f"both a file and a symlink: {sorted(map(str, overlap))}")
    for path, host in sorted(spec.files.items()):
        relative = image_path(path)
        make_dirs(rootfs, relative.parent)
        target = rootfs / relative
        shutil.copyfile(host, target)
        target.chmod(stat.S_IMODE(host.stat().st_mode))
    for path, link in sorted(spec.symlinks.items()):
        relative = image_path(path)
        make_dirs(rootfs, relative.parent)
        (rootfs / relative).symlink_to(link)


def write_archive(layout: Path, dest: Path) -> None:
    """Tar the OCI layout (what ``ctr images import`` reads), entries sorted, owned by root."""

    def as_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    with tarfile.open(dest, "w") as tar:
        for path in sorted(layout.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(layout)), recursive=False, filter=as_root)


def assemble(spec: ImageSpec, work: Path) -> Path:
    """Build the image as an OCI layout in ``work`` with umoci; return the layout."""
    layout, bundle = work / "layout", work / "bundle"
    image = f"{layout}:{spec.tag}"
    umoci("init", "--layout", layout)
    umoci("new", "--image", image)
    umoci("unpack", "--image", image, bundle)
    populate(bundle / "rootfs", spec)
    umoci("repack", "--image", image, bundle)
    umoci("config", "--image", image, *config_args(spec))
    umoci("gc", "--layout", layout)
    index = layout / "index.json"
    index.write_text(json.dumps(annotate_index(json.loads(index.read_text()), spec.name)))
    return layout


def ensure(spec: ImageSpec, cache_dir: Path) -> tuple[Path, bool]:
    """The image's archive in ``cache_dir``, and whether it was there already.

    The archive appears whole or not at all (written beside, then renamed),
    so an interrupted build leaves nothing that a later one would reuse.
    """
    out = cache_dir / archive_name(spec.name, content_key(spec))
    if out.exists():
        return out, True
    if shutil.which("umoci") is None:
        raise ImageError(
            "umoci is not installed (apt-get install umoci; `make system-packages` does it)"
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".build-", dir=cache_dir) as tmp:
        layout = assemble(spec, Path(tmp))
        staged = Path(tmp) / out.name
        write_archive(layout, staged)
        os.replace(staged, out)
    return out, False


def build(spec: ImageSpec, cache_dir: Path) -> Path:
    """The image's OCI archive in ``cache_dir``, built unless an identical one is there."""
    return ensure(spec, cache_dir)[0]


def default_cache() -> Path:
    """Where archives are cached: $G8S_CACHE/images, as the Makefile's cache folder."""
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("G8S_CACHE") or Path(xdg) / "g8s") / "images"


def etcd_version(etcd: Path) -> str:
    """The version an etcd binary reports (``etcd Version: 3.6.16``): its image tag."""
    for line in run([etcd, "--version"], timeout=30).splitlines():
        if line.startswith("etcd Version:"):
            return line.split(":", 1)[1].strip()
    raise ImageError(f"{etcd} --version did not say its version")


def build_local_images(cache_dir: Path | None = None) -> list[Path]:
    """The local environment's images (pause, etcd) from .tools, built or found cached."""
    cache_dir = cache_dir or default_cache()
    etcd = BIN / "etcd"
    with tempfile.TemporaryDirectory(prefix="g8s-pause-") as work:
        specs = [
            pause_spec(Path(work)),
            etcd_spec(BUSYBOX, etcd, BIN / "etcdutl", etcd_version(etcd)),
        ]
        return [build(spec, cache_dir) for spec in specs]


# --- the operators and launcher images -------------------------------------------
#
# Debian's python3 (bookworm: 3.11, the project's version) from mmdebstrap,
# one layer (for the launcher with QEMU and qemu-img in it); the project and
# its dependencies installed by pip into the interpreter's dist-packages, a
# second layer. Both come from the package
# registries only. The key is made of the inputs (the package list, the
# project's sources), not of the outputs, which carry build times.

OPERATORS_REPOSITORY = "g8s.local/operators"
LAUNCHER_REPOSITORY = "g8s.local/launcher"
BASE_SUITE = "bookworm"
BASE_PACKAGES = ("python3", "ca-certificates", "libstdc++6")  # grpcio (aetcd) needs libstdc++
# The VM launcher runs QEMU and makes each VM's qcow2 overlay with qemu-img.
LAUNCHER_PACKAGES = (*BASE_PACKAGES, "qemu-system-x86", "qemu-utils")
DIST_PACKAGES = "usr/local/lib/python3.11/dist-packages"
PROJECT_SOURCES = ("pyproject.toml", "operators", "shared")
# The machine's own Debian sources: mmdebstrap pastes the file into the image.
APT_SOURCES = (
    Path("/etc/apt/sources.list.d/debian.sources"),
    Path("/etc/apt/sources.list"),
)


def project_key(root: Path = ROOT, packages: Sequence[str] = BASE_PACKAGES) -> str:
    """sha256 over the base packages and the project's installable sources (by relative path)."""
    digest = hashlib.sha256(f"{BUILD_FORMAT}:{BASE_SUITE}:{','.join(packages)}".encode())
    for top in PROJECT_SOURCES:
        base = root / top
        paths = [base] if base.is_file() else sorted(base.rglob("*.py"))
        for path in paths:
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            digest.update(file_digest(path).encode())
    return digest.hexdigest()


def operators_image(key: str) -> str:
    return f"{OPERATORS_REPOSITORY}:{key[:12]}"


def launcher_image(key: str) -> str:
    """The VM launcher image's name for ``key`` (``project_key(packages=LAUNCHER_PACKAGES)``)."""
    return f"{LAUNCHER_REPOSITORY}:{key[:12]}"


def apt_sources() -> Path:
    for candidate in APT_SOURCES:
        if candidate.is_file():
            return candidate
    raise ImageError("no Debian apt sources on this machine for mmdebstrap")


def base_layer(
    cache_dir: Path, packages: Sequence[str] = BASE_PACKAGES, label: str = "python3"
) -> Path:
    """The Debian root with ``packages`` as a tar, built once per package list."""
    key = hashlib.sha256(f"{BASE_SUITE}:{','.join(packages)}".encode()).hexdigest()[:16]
    out = cache_dir / "layers" / f"debian-{BASE_SUITE}-{label}-{key}.tar"
    return debian_tar(out, BASE_SUITE, packages, timeout=900)


def debian_tar(
    out: Path,
    suite: str,
    packages: Sequence[str],
    *,
    options: Sequence[str] = (),
    timeout: float = 900,
) -> Path:
    """``out``: mmdebstrap's tar of a Debian root with ``packages`` (no docs), unless it exists.

    Written under a temporary name and renamed, so an interrupted build leaves no
    tar that a later run would take for finished.
    """
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    staged = out.with_suffix(".partial.tar")
    run(
        [
            "mmdebstrap",
            "--mode=root",
            "--variant=essential",
            f"--include={','.join(packages)}",
            *options,
            "--dpkgopt=path-exclude=/usr/share/{doc,man,locale,info}/*",
            "--quiet",
            suite,
            staged,
            apt_sources(),
        ],
        timeout=timeout,
    )
    os.replace(staged, out)
    return out


def app_layer(work: Path, root: Path = ROOT) -> Path:
    """The project and its dependencies, as they go into the image's dist-packages."""
    target = work / "app" / DIST_PACKAGES
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-compile",
            "--target",
            target,
            root,
        ],
        timeout=900,
    )
    layer = work / "app.tar"
    with tarfile.open(layer, "w") as tar:
        for path in sorted((work / "app").rglob("*")):
            info = tar.gettarinfo(path, arcname=str(path.relative_to(work / "app")))
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if info.isdir():
                info.mode = 0o755
            elif info.isfile():
                info.mode = 0o755 if info.mode & 0o111 else 0o644
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
                continue
            tar.addfile(info)
    return layer


def python_image(name: str, key: str, base: Path, config: Sequence[str], cache_dir: Path) -> Path:
    """The archive of ``name``: ``base`` plus the project (app layer), configured by ``config``.

    ``config`` holds ``umoci config`` options (entrypoint, user, ...).
    """
    out = cache_dir / archive_name(name, key)
    if out.exists():
        return out
    with tempfile.TemporaryDirectory(prefix=".build-", dir=cache_dir) as tmp:
        work = Path(tmp)
        layout = work / "layout"
        image = f"{layout}:{split_name(name)[1]}"
        umoci("init", "--layout", layout)
        umoci("new", "--image", image)
        for layer in (base, app_layer(work)):
            umoci("raw", "add-layer", "--image", image, layer)
        umoci(
            "config",
            "--image",
            image,
            "--config.env",
            "PYTHONUNBUFFERED=1",
            "--config.env",
            "PYTHONDONTWRITEBYTECODE=1",
            "--config.env",
            "PATH=/usr/local/bin:/usr/bin:/bin",
            "--config.workingdir",
            "/tmp",
            *config,
        )
        umoci("gc", "--layout", layout)
        index = layout / "index.json"
        index.write_text(json.dumps(annotate_index(json.loads(index.read_text()), name)))
        staged = work / out.name
        write_archive(layout, staged)
        os.replace(staged, out)
    return out


def build_operators_image(cache_dir: Path | None = None) -> tuple[str, Path]:
    """The operators image's name and archive, built unless the sources are unchanged."""
    cache_dir = cache_dir or default_cache()
    key = project_key()
    name = operators_image(key)
    out = cache_dir / archive_name(name, key)
    if out.exists():
        return name, out
    config = (
        *("--config.entrypoint", "python3", "--config.entrypoint", "-m"),
        *("--config.cmd", "operators.cluster", "--config.user", "65532:65532"),
    )
    return name, python_image(name, key, base_layer(cache_dir), config, cache_dir)


def build_launcher_image(cache_dir: Path | None = None) -> tuple[str, Path]:
    """The VM launcher image (python3, QEMU, qemu-img and the project): name and archive.

    It runs as root: QEMU opens /dev/net/tun and the tap joins a bridge of the
    host's network namespace (docs/operators/kvm.md, the privileged exception).
    """
    cache_dir = cache_dir or default_cache()
    key = project_key(packages=LAUNCHER_PACKAGES)
    name = launcher_image(key)
    out = cache_dir / archive_name(name, key)
    if out.exists():
        return name, out
    config = (
        *("--config.entrypoint", "python3", "--config.entrypoint", "-m"),
        *("--config.entrypoint", "operators.kvm.launcher", "--config.user", "0:0"),
    )
    base = base_layer(cache_dir, LAUNCHER_PACKAGES, "launcher")
    return name, python_image(name, key, base, config, cache_dir)


# --- command line -------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.images", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    cmd = commands.add_parser("build", help="build (or find cached) the pause and etcd images")
    cmd.add_argument("--cache", type=Path, default=None, help="archive directory")
    cmd.add_argument("--busybox", type=Path, default=BUSYBOX, help="static busybox binary")
    cmd.add_argument("--etcd", type=Path, default=BIN / "etcd", help="static etcd binary")
    cmd.add_argument("--etcdutl", type=Path, default=BIN / "etcdutl", help="static etcdutl")
    cmd.add_argument("--etcd-version", default=None, help="etcd image tag (default: etcd's)")
    cmd.add_argument(
        "--operators",
        action="store_true",
        help="also the operators and VM launcher images (Debian python3 [+ QEMU] + g8s)",
    )
    args = parser.parse_args(argv)

    cache_dir: Path = args.cache or default_cache()
    try:
        version = args.etcd_version or etcd_version(args.etcd)
        with tempfile.TemporaryDirectory(prefix="g8s-pause-") as work:
            specs = [
                pause_spec(Path(work)),
                etcd_spec(args.busybox, args.etcd, args.etcdutl, version),
            ]
            for spec in specs:
                path, cached = ensure(spec, cache_dir)
                print(f"{spec.name} {path}" + (" (cached)" if cached else ""))
        if args.operators:
            for build_image in (build_operators_image, build_launcher_image):
                start = time.monotonic()
                name, path = build_image(cache_dir)
                print(f"{name} {path} ({time.monotonic() - start:.1f}s)")
    except (ImageError, OSError, ValueError) as exc:
        print(f"images: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
