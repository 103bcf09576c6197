"""The tiny test guest and QEMU, as installed by .ci/install-guest.sh, or a clear failure."""

import os
import shutil
from base64 import b64decode
from dataclasses import dataclass
from pathlib import Path

import pytest

from operators.kvm.children import ignition, secret
from tests.localenv import ROOT
from tests.unit.kvm.helpers import inputs, spec

GUEST_DIR = ROOT / ".tools" / "guest"
INSTALL_HINT = "run `.ci/install-guest.sh` (make tools does it)"
# The tiny guest's command line when it should only come up and wait.
WAITING_APPEND = "console=ttyS0 quiet panic=-1 g8s.wait"


@dataclass(frozen=True)
class Guest:
    qemu: str
    kernel: Path
    initrd: Path


def require_guest() -> Guest:
    qemu = shutil.which("qemu-system-x86_64")
    kernel = GUEST_DIR / "vmlinuz"
    initrd = GUEST_DIR / "initramfs.gz"
    missing = [str(p) for p in (kernel, initrd) if not p.is_file()]
    if qemu is None:
        missing.append("qemu-system-x86_64 on PATH")
    if missing:
        pytest.fail(f"the boot test needs {', '.join(missing)}; {INSTALL_HINT}", pytrace=False)
    assert qemu is not None
    return Guest(qemu, kernel, initrd)


def ignition_file(tmp_path: Path) -> tuple[Path, str]:
    """A control-plane config as its ``<node>-ignition`` Secret holds it, and the Secret's hash."""
    node = spec("controlplane")
    config = ignition.render(ignition.build(node, inputs(node)))
    built = secret.build(node, config)
    path = tmp_path / "config.ign"
    path.write_bytes(b64decode(built["data"][secret.CONFIG_KEY]))
    return path, built["metadata"]["annotations"][secret.HASH_ANNOTATION]


def launcher_env(guest: Guest, tmp_path: Path, ignition_path: Path, **extra: str) -> dict[str, str]:
    """The launcher's settings to boot the tiny guest by direct kernel boot."""
    env = dict(os.environ)
    env.update(
        {
            "G8S_LAUNCHER_NAME": "boot-test",
            "G8S_LAUNCHER_MEMORY_MIB": "256",
            "G8S_LAUNCHER_QEMU": guest.qemu,
            "G8S_LAUNCHER_KERNEL": str(guest.kernel),
            "G8S_LAUNCHER_INITRD": str(guest.initrd),
            "G8S_LAUNCHER_IGNITION": str(ignition_path),
            "G8S_LAUNCHER_QMP_SOCKET": str(tmp_path / "qmp.sock"),
            # The test must not depend on the machine's /dev/kvm: point the
            # launcher at a device that does not exist -> software emulation.
            "G8S_LAUNCHER_KVM_DEVICE": str(tmp_path / "no-kvm"),
            "G8S_LAUNCHER_READY_PORT": "0",
            "G8S_LOG_FORMAT": "json",
            **extra,
        }
    )
    return env
