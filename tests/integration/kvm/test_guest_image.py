"""A real boot of the guest image (``make guest-image``) under software emulation (QEMU TCG).

One VM for the whole module: the image's kernel, initramfs and a qcow2
overlay over its root.raw (larger than the image, as the launcher may make
it), booted the way the launcher boots it, with an Ignition v3.4.0 config
handed over through fw_cfg. The config writes a file, the hostname and a
private key; replaces the kubelet's unit with a stand-in that records the
image's kubelet version (``kubelet.service`` is the name the real config
uses, pinned by the first-boot unit's ordering before it exists); adds a
drop-in to containerd, which systemd had loaded already; and enables a
oneshot unit that prints one marker line on the console and powers off.

Covers: Ignition's files and units are applied on first boot and the units
it enabled start; the four preloaded images are in containerd's k8s.io
namespace and one of them runs (no pull); the root grows to the disk; the
private key reaches neither Ignition's log, the journal nor the console.
"""

from __future__ import annotations

import json
import queue
import re
import shutil
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.guestimage import MANIFEST, build_guest_image

BOOT_TIMEOUT = 600.0
POWEROFF_TIMEOUT = 120.0
MARKER = "G8S-GUEST-IMAGE-MARKER"
FIELD = re.compile(r"(\w+)=\[([^\]]*)\]")
DISK_SIZE = 4 << 30
FILE_CONTENT = "written by ignition"
HOSTNAME = "g8s-guest-image-test"
SECRET = "G8SSECRETKEYMATERIAL"
RUNNING_IMAGE = "kube-apiserver"
INSTALL_HINT = "run `make tools` (QEMU: .ci/install-guest.sh; qemu-img: make system-packages)"

# Runs in the guest once the first boot started it; prints to the console.
MARKER_SCRIPT = rf"""#!/bin/sh
exec >/dev/console 2>&1
images=$(ctr -n k8s.io images ls -q | grep -v '^sha256:' | tr '\n' ' ')
image=$(ctr -n k8s.io images ls -q | grep '/{RUNNING_IMAGE}:')
# Under systemd's cgroup manager, as the CRI runs pods (the root has no D-Bus).
ran=$(ctr -n k8s.io run --rm --runc-systemd-cgroup --cgroup system.slice:g8s:probe "$image" probe \
    /usr/local/bin/{RUNNING_IMAGE} --version 2>&1 | tr '\n' ' ')
leaks=$( (cat /run/g8s/ignition.log; journalctl -b --no-pager) | grep -c {SECRET})
mem=$(awk '/MemTotal/ {{t = $2}} /MemAvailable/ {{a = $2}} END {{print int((t - a) / 1024)}}' \
    /proc/meminfo)
echo "{MARKER} file=[$(cat /etc/g8s-test/file)] hostname=[$(hostname)]" \
    "kubelet=[$(cat /run/g8s-test/kubelet-version)]" \
    "dropin=[$(systemctl show -p Environment --value containerd.service)]" \
    "images=[$images] ran=[$ran] rootsize=[$(df -B1 --output=size / | tail -n 1)]" \
    "leaks=[$leaks] memused=[$mem] uptime=[$(cut -d' ' -f1 /proc/uptime)]"
systemctl --no-block --check-inhibitors=no poweroff
"""

MARKER_UNIT = """\
[Unit]
Wants=containerd.service
After=containerd.service kubelet.service

[Service]
Type=oneshot
ExecStart=/etc/g8s-test/marker

[Install]
WantedBy=multi-user.target
"""

KUBELET_STANDIN_UNIT = """\
[Unit]
Description=stand-in for the kubelet: records the image's kubelet version

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'mkdir -p /run/g8s-test && \
/usr/local/bin/kubelet --version >/run/g8s-test/kubelet-version'

[Install]
WantedBy=multi-user.target
"""


def data_url(text: str) -> str:
    return "data:," + urllib.parse.quote(text)


def file_entry(path: str, text: str, mode: int) -> dict[str, Any]:
    return {"path": path, "mode": mode, "overwrite": True, "contents": {"source": data_url(text)}}


def ignition_config() -> dict[str, Any]:
    key = f"-----BEGIN PRIVATE KEY-----\n{SECRET}\n-----END PRIVATE KEY-----\n"
    return {
        "ignition": {"version": "3.4.0"},
        "storage": {
            "files": [
                file_entry("/etc/g8s-test/file", FILE_CONTENT, 0o644),
                file_entry("/etc/g8s-test/marker", MARKER_SCRIPT, 0o755),
                file_entry("/etc/hostname", HOSTNAME + "\n", 0o644),
                file_entry("/etc/kubernetes/pki/test/tls.key", key, 0o600),
            ]
        },
        "systemd": {
            "units": [
                {"name": "g8s-marker.service", "enabled": True, "contents": MARKER_UNIT},
                {"name": "kubelet.service", "enabled": True, "contents": KUBELET_STANDIN_UNIT},
                {
                    "name": "containerd.service",
                    "dropins": [
                        {
                            "name": "10-test.conf",
                            "contents": "[Service]\nEnvironment=G8S_DROPIN=applied\n",
                        }
                    ],
                },
            ]
        },
    }


@dataclass(frozen=True)
class Boot:
    manifest: dict[str, Any]
    raw_size: int
    console: str
    fields: dict[str, str]
    marker_seconds: float
    returncode: int | None


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(
            f"the guest image boot test needs {tool} on PATH; {INSTALL_HINT}", pytrace=False
        )
    return path


def qemu_command(qemu: str, image: Path, manifest: dict[str, Any], work: Path) -> list[str]:
    return [
        qemu,
        "-machine",
        "q35,accel=tcg",
        "-smp",
        "1",
        "-m",
        "1024",
        "-nodefaults",
        "-display",
        "none",
        "-serial",
        "stdio",
        "-kernel",
        str(image / manifest["kernel"]),
        "-initrd",
        str(image / manifest["initrd"]),
        "-append",
        manifest["append"],
        "-drive",
        f"if=virtio,file={work / 'disk.qcow2'},format=qcow2",
        "-fw_cfg",
        f"name=opt/com.coreos/config,file={work / 'config.ign'}",
    ]


class Console:
    """The serial console (QEMU's stdout), read line by line by a thread, with arrival times."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self.stream = proc.stdout
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self) -> None:
        for raw in iter(self.stream.readline, b""):
            self.lines.put(raw.decode(errors="replace"))
        self.lines.put(None)

    def wait_for(self, marker: str, deadline: float) -> str | None:
        """The first line holding ``marker``; None at the end of output or the deadline."""
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                return None
            if line is None:
                return None
            self.seen.append(line)
            if marker in line:
                return line
        return None

    def close(self) -> str:
        """Everything read, once QEMU has exited."""
        self.reader.join(timeout=10)
        while not self.lines.empty():
            line = self.lines.get()
            if line is not None:
                self.seen.append(line)
        self.stream.close()
        return "".join(self.seen)


def boot_image(image: Path, work: Path) -> Boot:
    qemu, qemu_img = require("qemu-system-x86_64"), require("qemu-img")
    manifest = json.loads((image / MANIFEST).read_text())
    raw = image / manifest["root"]
    disk = work / "disk.qcow2"
    create = [qemu_img, "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(raw), str(disk)]
    subprocess.run([*create, str(DISK_SIZE)], check=True)
    (work / "config.ign").write_text(json.dumps(ignition_config()))
    started = time.monotonic()
    proc = subprocess.Popen(
        qemu_command(qemu, image, manifest, work),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    console = Console(proc)
    try:
        marker_line = console.wait_for(MARKER, started + BOOT_TIMEOUT)
        marker_seconds = time.monotonic() - started
        if marker_line is not None:
            proc.wait(timeout=POWEROFF_TIMEOUT)
    except subprocess.TimeoutExpired:
        pass
    finally:
        proc.kill()
        proc.wait()
        output = console.close()
    if marker_line is None:
        pytest.fail(f"no marker within {BOOT_TIMEOUT:.0f}s; console:\n{output[-4000:]}")
    return Boot(
        manifest=manifest,
        raw_size=raw.stat().st_size,
        console=output,
        fields=dict(FIELD.findall(marker_line)),
        marker_seconds=marker_seconds,
        returncode=proc.returncode,
    )


@pytest.fixture(scope="module")
def boot(tmp_path_factory: pytest.TempPathFactory) -> Boot:
    image = build_guest_image()
    result = boot_image(image, tmp_path_factory.mktemp("guest-image"))
    print(
        f"\nguest image {image.name}: QEMU start to marker {result.marker_seconds:.1f}s"
        f" (guest uptime {result.fields.get('uptime')}s),"
        f" guest RAM in use {result.fields.get('memused')} MiB"
    )
    return result


def test_first_boot_writes_the_configs_files_and_hostname(boot: Boot) -> None:
    assert boot.fields["file"] == FILE_CONTENT
    assert boot.fields["hostname"] == HOSTNAME


def test_the_units_the_config_enabled_start_with_the_images_kubelet(boot: Boot) -> None:
    assert boot.fields["kubelet"] == f"Kubernetes v{boot.manifest['kubernetesVersion']}"


def test_a_drop_in_for_a_unit_systemd_had_loaded_applies(boot: Boot) -> None:
    assert boot.fields["dropin"] == "G8S_DROPIN=applied"


def test_the_preloaded_images_are_in_containerd(boot: Boot) -> None:
    listed = boot.fields["images"].split()
    assert len(boot.manifest["images"]) == 4
    assert sorted(listed) == sorted(boot.manifest["images"])


def test_a_preloaded_control_plane_image_runs_without_a_pull(boot: Boot) -> None:
    assert boot.fields["ran"].strip() == f"Kubernetes v{boot.manifest['kubernetesVersion']}"


def test_the_root_grows_to_the_vm_disk(boot: Boot) -> None:
    size = int(boot.fields["rootsize"])
    assert size > boot.raw_size
    assert size > DISK_SIZE * 0.9


def test_private_keys_stay_out_of_logs_and_console(boot: Boot) -> None:
    assert boot.fields["leaks"] == "0"
    assert SECRET not in boot.console


def test_the_first_boot_is_quiet_and_the_guest_powers_off(boot: Boot) -> None:
    assert "Ignition's" not in boot.console, "a first-boot stage failed"
    assert "g8s-ignition: config applied; started:" in boot.console
    assert boot.returncode == 0
