"""The local node's image builder (tests/images.py): everything but umoci itself."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests import images


def spec_with(tmp_path: Path, content: bytes = b"etcd", **changes: Any) -> images.ImageSpec:
    binary = tmp_path / "etcd"
    binary.write_bytes(content)
    binary.chmod(0o755)
    fields: dict[str, Any] = {
        "name": "g8s.local/etcd:3.6.16",
        "files": {"/usr/local/bin/etcd": binary},
        "symlinks": {"/bin/sh": "busybox"},
        "entrypoint": ("/usr/local/bin/etcd",),
        "env": {"PATH": images.ETCD_PATH},
    }
    return images.ImageSpec(**{**fields, **changes})


def umoci_index(tag: str) -> dict[str, Any]:
    """index.json as ``umoci gc`` leaves it: one manifest, tagged with the bare tag."""
    return {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": "sha256:" + "0" * 64,
                "size": 348,
                "annotations": {images.REF_NAME_ANNOTATION: tag},
            }
        ],
    }


# --- content_key --------------------------------------------------------------


def test_content_key_is_stable_for_the_same_content(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = images.content_key(spec_with(tmp_path / "a"))
    assert images.content_key(spec_with(tmp_path / "a")) == first
    # Another host path, same bytes: the same image, so the same key.
    assert images.content_key(spec_with(tmp_path / "b")) == first


def test_content_key_changes_with_a_files_content(tmp_path: Path) -> None:
    before = images.content_key(spec_with(tmp_path, b"etcd 3.6.15"))
    assert images.content_key(spec_with(tmp_path, b"etcd 3.6.16")) != before


def test_content_key_changes_with_a_files_mode(tmp_path: Path) -> None:
    spec = spec_with(tmp_path)
    before = images.content_key(spec)
    (tmp_path / "etcd").chmod(0o644)
    assert images.content_key(spec) != before


@pytest.mark.parametrize(
    "change",
    [
        {"name": "g8s.local/etcd:3.6.17"},
        {"entrypoint": ("/bin/sh",)},
        {"env": {"PATH": "/bin"}},
        {"symlinks": {"/bin/sh": "busybox", "/bin/cat": "busybox"}},
        {"files": {}},
    ],
)
def test_content_key_changes_with_the_configuration(tmp_path: Path, change: dict[str, Any]) -> None:
    assert images.content_key(spec_with(tmp_path, **change)) != images.content_key(
        spec_with(tmp_path)
    )


def test_archive_name_is_file_safe_and_keyed() -> None:
    key = "ab" * 32
    assert images.archive_name("g8s.local/pause:3.10", key) == (
        "g8s.local_pause_3.10-abababababababab.tar"
    )


# --- index.json ---------------------------------------------------------------


def test_annotate_index_names_the_image_for_containerd() -> None:
    index = umoci_index("3.10")
    annotated = images.annotate_index(index, "g8s.local/pause:3.10")
    assert annotated["manifests"][0]["annotations"] == {
        images.REF_NAME_ANNOTATION: "3.10",
        images.IMAGE_NAME_ANNOTATION: "g8s.local/pause:3.10",
    }
    # The rest is untouched, and so is the input.
    assert annotated["manifests"][0]["digest"] == index["manifests"][0]["digest"]
    assert annotated["schemaVersion"] == 2
    assert images.IMAGE_NAME_ANNOTATION not in index["manifests"][0]["annotations"]


def test_annotate_index_only_names_the_manifest_with_the_tag() -> None:
    index = umoci_index("3.6.16")
    index["manifests"].append({**index["manifests"][0], "annotations": {}})
    annotated = images.annotate_index(index, "g8s.local/etcd:3.6.16")
    assert images.IMAGE_NAME_ANNOTATION in annotated["manifests"][0]["annotations"]
    assert annotated["manifests"][1]["annotations"] == {}


def test_annotate_index_refuses_an_index_without_the_tag() -> None:
    with pytest.raises(images.ImageError, match="no manifest tagged"):
        images.annotate_index(umoci_index("latest"), "g8s.local/pause:3.10")


# --- names, paths, configuration ------------------------------------------------


def test_split_name_needs_a_tag() -> None:
    assert images.split_name("g8s.local/pause:3.10") == ("g8s.local/pause", "3.10")
    for name in ("g8s.local/pause", "localhost:5000/pause", "pause:", ":3.10"):
        with pytest.raises(ValueError, match="no valid tag"):
            images.split_name(name)


def test_image_path_is_absolute_and_stays_inside() -> None:
    assert str(images.image_path("/usr/local/bin/etcd")) == "usr/local/bin/etcd"
    for path in ("bin/sh", "/", "/bin/../../etc/passwd"):
        with pytest.raises(ValueError, match="not an absolute path"):
            images.image_path(path)


def test_config_args(tmp_path: Path) -> None:
    assert images.config_args(spec_with(tmp_path, env={"B": "2", "A": "1"})) == [
        "--config.entrypoint",
        "/usr/local/bin/etcd",
        "--config.env",
        "A=1",
        "--config.env",
        "B=2",
    ]


def test_busybox_links_every_applet_but_itself() -> None:
    applets = [*images.REQUIRED_APPLETS, "busybox", "nc", "["]
    links = images.busybox_links(applets)
    assert links["/bin/sh"] == "busybox"
    assert links["/bin/nc"] == "busybox"
    assert "/bin/busybox" not in links


def test_busybox_links_need_the_scripts_applets() -> None:
    with pytest.raises(images.ImageError, match="sha256sum"):
        images.busybox_links(a for a in images.REQUIRED_APPLETS if a != "sha256sum")


# --- the root filesystem and the archive --------------------------------------


def test_populate_keeps_modes_and_makes_links(tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    images.populate(rootfs, spec_with(tmp_path))
    etcd = rootfs / "usr" / "local" / "bin" / "etcd"
    assert etcd.read_bytes() == b"etcd"
    assert etcd.stat().st_mode & 0o777 == 0o755
    assert (rootfs / "usr").stat().st_mode & 0o777 == 0o755
    assert (rootfs / "bin" / "sh").readlink() == Path("busybox")


def test_populate_refuses_a_path_that_is_file_and_link(tmp_path: Path) -> None:
    spec = spec_with(tmp_path, symlinks={"/usr/local/bin/etcd": "busybox"})
    with pytest.raises(images.ImageError, match="both a file and a symlink"):
        images.populate(tmp_path, spec)


def test_write_archive_holds_the_layout_sorted_and_owned_by_root(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (layout / "index.json").write_text("{}")
    (layout / "blobs" / "sha256" / ("0" * 64)).write_text("{}")
    images.write_archive(layout, tmp_path / "out.tar")
    with tarfile.open(tmp_path / "out.tar") as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == [
        "blobs",
        "blobs/sha256",
        f"blobs/sha256/{'0' * 64}",
        "index.json",
        "oci-layout",
    ]
    assert {(m.uid, m.gid) for m in members} == {(0, 0)}


# --- operators and launcher images -----------------------------------------------


def test_project_key_follows_the_sources_and_the_packages(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'g8s'\n")
    for top in ("operators", "shared"):
        (tmp_path / top).mkdir()
        (tmp_path / top / "__init__.py").write_text("")
    key = images.project_key(tmp_path)
    assert images.project_key(tmp_path) == key
    # The launcher's base (QEMU on top) is another image, under another key.
    launcher = images.project_key(tmp_path, images.LAUNCHER_PACKAGES)
    assert launcher != key
    (tmp_path / "operators" / "__init__.py").write_text('"""changed"""\n')
    assert images.project_key(tmp_path) != key
    assert images.project_key(tmp_path, images.LAUNCHER_PACKAGES) != launcher


def test_launcher_image_name_and_packages() -> None:
    key = "0123456789abcdef" * 4
    assert images.launcher_image(key) == "g8s.local/launcher:0123456789ab"
    assert images.operators_image(key) == "g8s.local/operators:0123456789ab"
    # QEMU and qemu-img (the VM's overlay) on top of the operators' base.
    assert images.LAUNCHER_PACKAGES[: len(images.BASE_PACKAGES)] == images.BASE_PACKAGES
    assert {"qemu-system-x86", "qemu-utils"} <= set(images.LAUNCHER_PACKAGES)
