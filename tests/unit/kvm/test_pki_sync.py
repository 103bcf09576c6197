"""The guest's live-file sync (pki-sync.sh), run with sh on a share laid out as a mounted Secret."""

import hashlib
import json
import os
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from operators.kvm.children import ignition
from shared.api import carotation


def share_revision(share: Path, revision: str, files: dict[str, tuple[str, int]]) -> None:
    """Write one revision the way the kubelet does: a timestamped directory, "..data"
    swapped to it by rename, and top-level symlinks through "..data"."""
    directory = share / f"..{revision}"
    for path, (content, mode) in files.items():
        (directory / path).parent.mkdir(parents=True, exist_ok=True)
        (directory / path).write_text(content)
        (directory / path).chmod(mode)
    (share / "..data_tmp").symlink_to(directory.name)
    os.replace(share / "..data_tmp", share / "..data")
    for top in {p.split("/")[0] for p in files}:
        if not (share / top).is_symlink():
            (share / top).symlink_to(f"..data/{top}")


def settings(share: Path, target: Path) -> dict[str, str]:
    return {
        **os.environ,
        "G8S_PKI_SHARE": str(share),
        "G8S_PKI_TARGET": str(target),
        "G8S_PKI_INTERVAL": "0.1",
        # Never this machine's own static pods or mounts.
        "G8S_PKI_MANIFESTS": str(target.parent / "no-manifests"),
        "G8S_PKI_MOUNT_UNIT": "",
    }


def sync(
    share: Path, target: Path, script: Path, mode: str = "once", **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(script), mode],
        env={**settings(share, target), **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_copies_renews_by_rename_and_removes(tmp_path: Path) -> None:
    script = tmp_path / "pki-sync"
    script.write_text(ignition.pki_sync_script())
    share, target = tmp_path / "share", tmp_path / "pki"
    share.mkdir()
    share_revision(
        share,
        "1",
        {"ca.crt": ("CA", 0o644), "api/tls.crt": ("C1", 0o644), "api/tls.key": ("K1", 0o600)},
    )

    first = sync(share, target, script)
    assert first.returncode == 0, first.stderr
    assert (target / "api" / "tls.crt").read_text() == "C1"
    assert stat.S_IMODE((target / "api" / "tls.key").stat().st_mode) == 0o600
    # Only the node's files: none of the Secret volume's dot entries.
    copied = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert copied == ["api/tls.crt", "api/tls.key", "ca.crt"]
    # Paths are logged, never contents.
    assert "K1" not in first.stdout + first.stderr

    before = (target / "api" / "tls.crt").stat().st_ino
    unchanged = (target / "ca.crt").stat().st_ino
    share_revision(share, "2", {"ca.crt": ("CA", 0o644), "api/tls.crt": ("C2", 0o644)})
    second = sync(share, target, script)
    assert second.returncode == 0, second.stderr
    assert (target / "api" / "tls.crt").read_text() == "C2"
    # Replaced by rename (a new inode: the event a file watcher reloads on);
    # an unchanged file is not touched.
    assert (target / "api" / "tls.crt").stat().st_ino != before
    assert (target / "ca.crt").stat().st_ino == unchanged
    # A file gone from the share goes from the node.
    assert not (target / "api" / "tls.key").exists()
    assert "updated api/tls.crt" in second.stdout
    assert "removed api/tls.key" in second.stdout


def test_an_unreadable_share_changes_nothing(tmp_path: Path) -> None:
    script = tmp_path / "pki-sync"
    script.write_text(ignition.pki_sync_script())
    share, target = tmp_path / "share", tmp_path / "pki"
    share.mkdir()
    target.mkdir()
    (target / "ca.crt").write_text("CA")
    out = sync(share, target, script)
    assert out.returncode == 1
    assert (target / "ca.crt").read_text() == "CA"


def wait_until(check: Callable[[], bool], seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_watch_passes_again_when_the_share_changes(tmp_path: Path) -> None:
    script = tmp_path / "pki-sync"
    script.write_text(ignition.pki_sync_script())
    share, target = tmp_path / "share", tmp_path / "pki"
    share.mkdir()
    share_revision(share, "1", {"ca.crt": ("CA", 0o644), "api/tls.crt": ("C1", 0o644)})
    watch = subprocess.Popen(
        ["sh", str(script), "watch"],
        env=settings(share, target),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        crt = target / "api" / "tls.crt"
        assert wait_until(lambda: crt.exists() and crt.read_text() == "C1")
        # Written in place under the same revision: not a change the kubelet
        # makes, and not looked at (a look costs only a readlink).
        (share / "..1" / "api" / "tls.crt").write_text("in place")
        time.sleep(1.0)
        assert crt.read_text() == "C1"
        share_revision(share, "2", {"ca.crt": ("CA", 0o644), "api/tls.crt": ("C2", 0o644)})
        assert wait_until(lambda: crt.read_text() == "C2")
    finally:
        watch.kill()
        watch.wait()


def test_first_waits_for_the_share(tmp_path: Path) -> None:
    script = tmp_path / "pki-sync"
    script.write_text(ignition.pki_sync_script())
    share, target = tmp_path / "share", tmp_path / "pki"
    share.mkdir()
    first = subprocess.Popen(["sh", str(script), "first"], env=settings(share, target))
    try:
        time.sleep(0.5)
        assert first.poll() is None  # no share yet: still waiting
        share_revision(share, "1", {"ca.crt": ("CA", 0o644)})
        assert first.wait(timeout=20) == 0
        assert (target / "ca.crt").read_text() == "CA"
    finally:
        first.kill()
        first.wait()


def test_a_changed_service_account_key_restarts_the_processes_that_read_it(
    tmp_path: Path,
) -> None:
    script = tmp_path / "pki-sync"
    script.write_text(ignition.pki_sync_script())
    share, target = tmp_path / "share", tmp_path / "pki"
    share.mkdir()
    files = {"ca.crt": ("CA", 0o644), "service-account/tls.key": ("K1", 0o600)}
    share_revision(share, "1", files)
    # A stand-in for kube-controller-manager: a process whose name (/proc comm, cut
    # by the kernel to 15 characters) is looked for.
    stand_in = tmp_path / "g8s-test-controller-manager"
    stand_in.write_bytes(Path("/bin/sleep").read_bytes())
    stand_in.chmod(0o755)
    apiserver = subprocess.Popen([str(stand_in), "300"])
    watch = subprocess.Popen(
        ["sh", str(script), "watch"],
        env={**settings(share, target), "G8S_PKI_RESTART": stand_in.name},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        key = target / "service-account" / "tls.key"
        assert wait_until(lambda: key.exists() and key.read_text() == "K1")
        # Another file changing restarts nothing.
        share_revision(share, "2", {**files, "api/tls.crt": ("C1", 0o644)})
        assert wait_until((target / "api" / "tls.crt").exists)
        time.sleep(0.5)
        assert apiserver.poll() is None
        share_revision(share, "3", {**files, "service-account/tls.key": ("K2", 0o600)})
        assert wait_until(lambda: key.read_text() == "K2")
        assert apiserver.wait(timeout=10) == -15  # SIGTERM
    finally:
        apiserver.kill()
        watch.kill()
        out, _ = watch.communicate()
    assert f"restarted {stand_in.name} (pid {apiserver.pid})" in out
    assert "K2" not in out  # paths, never contents


def test_a_changed_ca_restarts_its_readers_even_under_a_long_name(tmp_path: Path) -> None:
    """A CA rotation's bundle gaining a CA: every process that verifies a server with it
    is restarted, found by its /proc comm, which the kernel cuts to 15 characters; the
    bundle losing one restarts nothing."""
    script = tmp_path / "pki-sync"
    script.write_text(ignition.pki_sync_script())
    share, target = tmp_path / "share", tmp_path / "pki"
    share.mkdir()
    files = {"ca.crt": ("CA1", 0o644), "api/tls.crt": ("C1", 0o644)}
    share_revision(share, "1", files)
    stand_in = tmp_path / "g8s-test-controller-manager"  # 27 characters
    stand_in.write_bytes(Path("/bin/sleep").read_bytes())
    stand_in.chmod(0o755)
    manifests = static_pods(tmp_path / "manifests")
    reader = subprocess.Popen([str(stand_in), "300"])
    watch = subprocess.Popen(
        ["sh", str(script), "watch"],
        env={
            **settings(share, target),
            "G8S_PKI_RESTART_CA": f"{stand_in.name} g8s-absent",
            "G8S_PKI_MANIFESTS": str(manifests),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        ca = target / "ca.crt"
        assert wait_until(lambda: ca.exists() and ca.read_text() == "CA1")
        time.sleep(0.5)
        assert reader.poll() is None  # the first pass restarts nothing
        share_revision(share, "2", {**files, "ca.crt": ("CA1\nCA2", 0o644)})
        assert wait_until(lambda: ca.read_text() == "CA1\nCA2")
        assert reader.wait(timeout=10) == -15  # SIGTERM
        restarted = reader.pid
        # The static pods are started again by the kubelet: their manifests
        # now carry the digest of the bundle (the one without the annotation
        # is not touched).
        both = carotation.file_digest(b"CA1\nCA2")
        assert both == hashlib.sha256(b"CA1\nCA2").hexdigest()[:16]
        assert wait_until(lambda: trust_of(manifests / "kube-apiserver.yaml") == both)
        assert (manifests / "other.yaml").read_text() == OTHER
        # The old CA dropped: nothing to load that a client needs, no restart.
        reader = subprocess.Popen([str(stand_in), "300"])
        share_revision(share, "3", {**files, "ca.crt": ("CA2", 0o644)})
        assert wait_until(lambda: ca.read_text() == "CA2")
        time.sleep(0.5)
        assert reader.poll() is None
        assert trust_of(manifests / "kube-apiserver.yaml") == both
    finally:
        reader.kill()
        reader.wait()
        watch.kill()
        out, _ = watch.communicate()
    assert f"restarted {stand_in.name} (pid {restarted})" in out
    assert f"restarted the static pod of kube-apiserver.yaml: trusted CAs {both}" in out
    assert out.count("restarted") == 2
    # Only the manifests: no temporary file left for the kubelet to read.
    assert sorted(p.name for p in manifests.iterdir()) == ["kube-apiserver.yaml", "other.yaml"]


OTHER = '{"kind": "Pod", "metadata": {"name": "other"}}\n'


def static_pods(directory: Path) -> Path:
    """A manifest as Ignition writes it (the annotation empty) and one without it."""
    directory.mkdir()
    pod = ignition.static_pod("kube-apiserver", "registry/kube-apiserver:v1", ["kube-apiserver"])
    text = json.dumps(pod, indent=2, sort_keys=True) + "\n"
    (directory / "kube-apiserver.yaml").write_text(text)
    (directory / "other.yaml").write_text(OTHER)
    return directory


def trust_of(manifest: Path) -> str:
    annotations = json.loads(manifest.read_text())["metadata"]["annotations"]
    return str(annotations[carotation.STATIC_POD_TRUST_ANNOTATION])


def test_the_first_pass_stamps_the_static_pods_with_the_bundle(tmp_path: Path) -> None:
    script = tmp_path / "pki-sync"
    script.write_text(ignition.pki_sync_script())
    share, target = tmp_path / "share", tmp_path / "pki"
    share.mkdir()
    share_revision(share, "1", {"ca.crt": ("CA1", 0o644)})
    manifests = static_pods(tmp_path / "manifests")
    assert trust_of(manifests / "kube-apiserver.yaml") == ""
    first = sync(share, target, script, "first", G8S_PKI_MANIFESTS=str(manifests))
    assert first.returncode == 0, first.stderr
    assert trust_of(manifests / "kube-apiserver.yaml") == carotation.file_digest(b"CA1")
    assert (manifests / "other.yaml").read_text() == OTHER
    # Stamped once: a second first pass (the kubelet started again) changes nothing.
    before = (manifests / "kube-apiserver.yaml").stat().st_ino
    again = sync(share, target, script, "first", G8S_PKI_MANIFESTS=str(manifests))
    assert again.returncode == 0, again.stderr
    assert (manifests / "kube-apiserver.yaml").stat().st_ino == before
    assert "static pod" not in again.stdout
