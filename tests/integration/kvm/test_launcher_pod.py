"""The VM launcher as a pod on the real node: the image built here, real QEMU, overlay, tap.

Covers, on a local environment of this module's own (``localenv.up``, torn
down with ``localenv.down``): the launcher image (``tests/images.py``) is
imported into the real node's containerd; the pod spec is the operator's own
(``operators.kvm.children.deployment.build``, with the disk claim from
``pvc.build`` and the Ignition Secret from ``secret.build``), placed on the
real node; the disk claim is a Filesystem volume from the environment's
provisioner (a hostPath directory); the guest OS image is a host directory
with ``manifest.json`` naming the tiny test guest (``.tools/guest``) and a
16 MiB ext4 ``root.raw``. Then: the launcher says which accelerator it uses
and why (tcg, as set); it creates ``disk.qcow2`` in the volume's directory
with the guest image's ``root.raw`` as backing file and the node's disk size;
the guest prints, on the pod's log, the SHA-256 of the Ignition blob it
reads through fw_cfg, equal to the Secret's content hash; while the VM runs
the tap device exists in the node's network namespace, up, on the bridge;
deleting the pod powers the guest down over ACPI and QEMU removes the tap;
the pod the Deployment starts instead reuses the overlay (not made again)
and boots the same guest.

The real node must run on this kind of machine: the test fails, never skips.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import time
from base64 import b64decode
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from operators.kvm.children import deployment, ignition, pvc, secret
from operators.kvm.launcher import command
from operators.kvm.launcher.config import LauncherConfig
from operators.kvm.model import KVMNodeSpec, parse
from operators.kvm.policies import mac_address, pod_resources, ready_port
from shared.placement import pod_placement
from tests import hostnode, images, localenv, volumes
from tests.integration.kvm.guest import require_guest
from tests.unit.kvm.helpers import body, inputs

ENV_NAME = "g8s-launcher"
NAMESPACE = "launcher-pod"
BRIDGE = "g8s-br-lpod"
# The guest waits for the ACPI power button (the launcher's SIGTERM path).
APPEND = "console=ttyS0 quiet panic=-1 g8s.acpi"
SHA_LINE = re.compile(r"g8s-guest: ignition-sha256=([0-9a-f]{64})")
BACKING = f"{deployment.GUEST_DIR}/root.raw"
# A TCG boot of the tiny guest takes about 5 s on a quiet machine; the
# cores may be shared with heavy builds.
BOOT_TIMEOUT = 240.0


@pytest.fixture(scope="module")
def real_env() -> Iterator[localenv.LocalEnv]:
    """An environment of this module's own, with its real node; taken down afterwards."""
    missing = localenv.missing_tools()
    if missing:
        pytest.fail(f"the launcher pod test needs {', '.join(missing)}: make tools", pytrace=False)
    localenv.down(ENV_NAME)  # leftovers of an interrupted run
    try:
        env = localenv.up(ENV_NAME)
    except localenv.LocalEnvError as exc:
        localenv.down(ENV_NAME)
        pytest.fail(f"could not start {ENV_NAME!r}: {exc}", pytrace=False)
    try:
        assert env.real_node, f"no real node, so no launcher pod: {env.fallback_reason}"
        yield env
    finally:
        localenv.down(ENV_NAME)


@pytest.fixture(scope="module")
def launcher_image(real_env: localenv.LocalEnv) -> str:
    """The launcher image, built here (or found cached) and imported into the node."""
    name, archive = images.build_launcher_image()
    paths = localenv.node_paths(localenv.Paths(real_env.name))
    hostnode.import_images(paths, [archive])
    return name


@pytest.fixture(scope="module")
def guest_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A guest image directory: the tiny test guest, a small ext4 root and the manifest."""
    guest = require_guest()
    if shutil.which("mkfs.ext4") is None:
        pytest.fail("the launcher pod test needs mkfs.ext4 (e2fsprogs)", pytrace=False)
    image = tmp_path_factory.mktemp("guest-image")
    # Copies, not links: a link to a path outside the mounted directory
    # would point nowhere inside the pod.
    shutil.copyfile(guest.kernel, image / "vmlinuz")
    shutil.copyfile(guest.initrd, image / "initramfs.gz")
    empty = tmp_path_factory.mktemp("empty-root")
    localenv.run(["mkfs.ext4", "-q", "-F", "-d", str(empty), str(image / "root.raw"), "16M"])
    manifest = {"kernel": "vmlinuz", "initrd": "initramfs.gz", "root": "root.raw"}
    (image / "manifest.json").write_text(json.dumps({**manifest, "append": APPEND}))
    return image


@pytest.fixture(scope="module")
def bridge(real_env: localenv.LocalEnv) -> str:
    """A bridge in the node's network namespace, as the network agent makes one."""
    netns = hostnode.plan(real_env.name).netns
    ip(netns, "link", "add", BRIDGE, "type", "bridge")
    ip(netns, "link", "set", BRIDGE, "up")
    return BRIDGE


def ip(netns: str, *args: str) -> str:
    return localenv.run(["ip", "-n", netns, *args], timeout=10).stdout


def link(netns: str, name: str) -> dict[str, Any] | None:
    """``ip -j link show`` of ``name`` in ``netns``; None when it does not exist."""
    shown = subprocess.run(
        ["ip", "-n", netns, "-j", "link", "show", "dev", name],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    if shown.returncode != 0:
        return None
    found: list[dict[str, Any]] = json.loads(shown.stdout)
    return found[0] if found else None


def node_spec() -> KVMNodeSpec:
    """A small worker: the tiny guest needs 256 MiB and one CPU."""
    manifest = body("worker", cpus=1, memoryMiB=256, diskGiB=1)
    manifest["metadata"]["namespace"] = NAMESPACE
    return parse(manifest)


def apply(env: localenv.LocalEnv, manifest: dict[str, Any]) -> None:
    env.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(manifest))


def pod_names(env: localenv.LocalEnv, node: KVMNodeSpec) -> list[str]:
    """The node's launcher pods, terminating ones included."""
    selector = ",".join(f"{k}={v}" for k, v in deployment.selector(node).items())
    found = env.kubectl("get", "pods", "-n", NAMESPACE, "-l", selector, "-o", "name").stdout
    return found.split()


def launcher_pod(env: localenv.LocalEnv, node: KVMNodeSpec) -> dict[str, Any] | None:
    """The node's live launcher pod (not one being deleted), or None."""
    selector = ",".join(f"{k}={v}" for k, v in deployment.selector(node).items())
    found = json.loads(
        env.kubectl("get", "pods", "-n", NAMESPACE, "-l", selector, "-o", "json").stdout
    )
    live = [p for p in found["items"] if not p["metadata"].get("deletionTimestamp")]
    return live[0] if live else None


def ready(pod: dict[str, Any] | None) -> bool:
    conditions = ((pod or {}).get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def wait_for_ready_pod(env: localenv.LocalEnv, node: KVMNodeSpec, old: str = "") -> str:
    """The name of the node's launcher pod once Ready (another one than ``old``)."""
    found: dict[str, Any] = {}

    def check() -> bool:
        pod = launcher_pod(env, node)
        if pod is None or pod["metadata"]["name"] == old or not ready(pod):
            return False
        found.update(pod)
        return True

    try:
        localenv.wait_for("the launcher pod Ready", check, timeout=BOOT_TIMEOUT)
    except localenv.LocalEnvError:
        pods = env.kubectl("get", "pods", "-n", NAMESPACE, "-o", "wide", check=False).stdout
        events = env.kubectl("get", "events", "-n", NAMESPACE, check=False).stdout
        pytest.fail(f"no Ready launcher pod:\n{pods}\n{events}", pytrace=False)
    return str(found["metadata"]["name"])


def wait_for_log(env: localenv.LocalEnv, pod: str, pattern: re.Pattern[str]) -> re.Match[str]:
    seen: dict[str, str] = {"log": ""}

    def check() -> bool:
        seen["log"] = env.kubectl("logs", pod, "-n", NAMESPACE, check=False).stdout
        return pattern.search(seen["log"]) is not None

    try:
        localenv.wait_for(f"{pattern.pattern} in the log of {pod}", check, timeout=BOOT_TIMEOUT)
    except localenv.LocalEnvError:
        pytest.fail(f"{pattern.pattern} not in the log of {pod}:\n{seen['log'][-4000:]}")
    match = pattern.search(seen["log"])
    assert match is not None
    return match


def events(log: str, name: str) -> list[dict[str, Any]]:
    """The launcher's JSON log records named ``name`` (the guest's console lines are skipped)."""
    found = []
    for line in log.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("event") == name:
                found.append(record)
    return found


def seconds_between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def volume_dir(env: localenv.LocalEnv, claim: str) -> Path:
    volume = env.kubectl(
        "get", "pvc", claim, "-n", NAMESPACE, "-o", "jsonpath={.spec.volumeName}"
    ).stdout
    path = env.kubectl("get", "pv", volume, "-o", "jsonpath={.spec.hostPath.path}").stdout
    return Path(path)


def overlay_info(path: Path) -> dict[str, Any]:
    # -U: QEMU holds the image's lock while the VM runs.
    shown = localenv.run(["qemu-img", "info", "-U", "--output=json", str(path)], timeout=30)
    info: dict[str, Any] = json.loads(shown.stdout)
    return info


def test_launcher_pod_boots_the_guest_on_the_real_node(
    real_env: localenv.LocalEnv,
    launcher_image: str,
    guest_image: Path,
    bridge: str,
    tmp_path: Path,
) -> None:
    env, node = real_env, node_spec()
    netns = hostnode.plan(env.name).netns
    tap = command.tap_name(LauncherConfig(name=node.name))
    env.kubectl("create", "namespace", NAMESPACE)
    config = ignition.render(ignition.build(node, inputs(node)))
    ignition_secret = secret.build(node, config)
    expected = hashlib.sha256(b64decode(ignition_secret["data"][secret.CONFIG_KEY])).hexdigest()
    assert expected == secret.content_hash(config)
    pod = deployment.LauncherPod(
        image=launcher_image,
        resources=pod_resources(node, 256, 250),
        bridge=bridge,
        mac=mac_address(node),
        ready_port=ready_port(node),
        shutdown_timeout=60,
        ignition_hash=expected,
        accel="tcg",
        guest_image=str(guest_image),
        placement=pod_placement(
            [f"{hostnode.HOST_LABEL}={hostnode.HOST_LABEL_VALUE}"],
            [f"{hostnode.HOST_TAINT}:NoSchedule"],
        ),
    )
    with volumes.running_provisioner(env, tmp_path):
        apply(env, ignition_secret)
        apply(env, pvc.build(node))
        started = time.monotonic()
        apply(env, deployment.build(node, pod))
        first = wait_for_ready_pod(env, node)
        ready_after = time.monotonic() - started

        # The guest read the Secret's bytes through fw_cfg.
        assert wait_for_log(env, first, SHA_LINE).group(1) == expected
        booted_after = time.monotonic() - started
        wait_for_log(env, first, re.compile("g8s-guest: waiting"))
        shown = link(netns, tap)
        assert shown is not None, f"no {tap} in {netns}"
        assert shown.get("master") == bridge
        assert "UP" in shown["flags"]

        log = env.kubectl("logs", first, "-n", NAMESPACE).stdout
        (accel,) = events(log, "accelerator")
        assert accel["accel"] == "tcg"
        assert "G8S_LAUNCHER_ACCEL=tcg" in accel["why"]
        (made,) = events(log, "guest image")
        disk_dir = volume_dir(env, f"{node.name}-disk")
        assert made["created"] is True
        assert made["disk"] == f"{deployment.DISK_DIR}/disk.qcow2"
        assert made["backing"] == BACKING
        (attached,) = events(log, "tap attached")
        assert attached["bridge"] == bridge
        (qemu,) = events(log, "starting qemu")
        attach_after = seconds_between(qemu["timestamp"], attached["timestamp"])

        info = overlay_info(disk_dir / "disk.qcow2")
        assert info["format"] == "qcow2"
        assert info["backing-filename"] == BACKING
        assert info["backing-filename-format"] == "raw"
        assert info["virtual-size"] == node.disk_gib << 30
        assert not (disk_dir / ".disk.qcow2.partial").exists()

        # The pod goes: the guest powers down on the ACPI button, QEMU ends
        # and takes its tap with it; the Deployment starts another pod.
        stopping = time.monotonic()
        env.kubectl("delete", "pod", first, "-n", NAMESPACE, "--wait=true", timeout=120)
        stopped_after = time.monotonic() - stopping
        # The Deployment's next pod may already have made a tap of the same
        # name: the first one is gone when no link has its interface index.
        after = link(netns, tap)
        assert after is None or after["ifindex"] != shown["ifindex"], f"{tap} left behind"
        assert link(netns, bridge) is not None

        second = wait_for_ready_pod(env, node, old=first)
        assert wait_for_log(env, second, SHA_LINE).group(1) == expected
        log = env.kubectl("logs", second, "-n", NAMESPACE).stdout
        (reused,) = events(log, "guest image")
        assert reused["created"] is False
        assert reused["disk"] == made["disk"]
        assert overlay_info(disk_dir / "disk.qcow2")["backing-filename"] == BACKING

        env.kubectl("delete", "deployment", node.name, "-n", NAMESPACE, "--wait=true")
        # The pod goes after its Deployment (garbage collection), terminating
        # first: wait until it has left the API, i.e. the kubelet stopped it.
        localenv.wait_for("no launcher pod left", lambda: not pod_names(env, node), timeout=150)
        assert link(netns, tap) is None, f"{tap} left behind in {netns}"
        env.kubectl("delete", "namespace", NAMESPACE, "--wait=false")
    print(
        f"\nlauncher pod Ready {ready_after:.1f}s after apply, guest's hash on its log "
        f"after {booted_after:.1f}s; tap attached "
        f"{attach_after:.2f}s after QEMU started; pod deleted (ACPI power-down) "
        f"in {stopped_after:.1f}s"
    )
