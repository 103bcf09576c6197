"""A PersistentVolume provisioner for the local environment (which has none of its own).

Without it the claims of the KVM node disks (``<node>-disk``, volumeMode Block)
and of the etcd StatefulSet never bind, and their pods are never scheduled.

It watches PersistentVolumeClaims in all namespaces and, for each one that is
Pending, names no volume and asks for no StorageClass (or for one of the
classes it is given), creates a PersistentVolume pre-bound to it:
``spec.claimRef`` with the claim's namespace, name and uid, the claim's
volumeMode, access modes and requested size, a hostPath under the
environment's state directory (``.state/<name>/volumes/``: a directory for a
Filesystem volume, a sparse file for a Block one), and the label
``g8s.io/local-volume: "true"``. kube-controller-manager then binds the pair.

The volumes are ``Retain``: no controller of this environment could delete a
hostPath volume outside /tmp, so the provisioner does it. When a claim is
deleted its volume turns ``Released``; the provisioner deletes released (and
failed) volumes of its label, and their backing path.

Both loops list, then watch from the list's resourceVersion, and list again
when the server answers 410 Gone; nothing polls.

``python -m tests.volumes [--name ENV] [--storage-class NAME ...]`` runs it
against a running environment (``python -m tests.localenv operators`` starts
it beside the operators, ``down`` stops it); tests use
``running_provisioner(env, log_dir)``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config, utils, watch
from kubernetes.client.exceptions import ApiException

from tests.localenv import PROVISIONER_MODULE, ROOT, LocalEnv, Paths, env_name

LABEL = "g8s.io/local-volume"
SELECTOR = f"{LABEL}=true"
READY_LINE = "provisioner watching"
START_TIMEOUT = 30.0

HTTP_NOT_FOUND = 404
HTTP_CONFLICT = 409
HTTP_GONE = 410
# A watch is closed by the server after this long and resumed from the last
# resourceVersion; a dead connection is noticed after the client timeout.
WATCH_SECONDS = 300
MAX_BACKOFF = 10.0
# Phases of a volume of ours that no claim will ever use again.
SPENT_PHASES = frozenset({"Released", "Failed"})

log = logging.getLogger("g8s.volumes")


# --- pure: which claims, which volume -----------------------------------------


def wants_volume(claim: Mapping[str, Any], classes: Collection[str]) -> bool:
    """True when ``claim`` waits for a volume this provisioner should make."""
    meta = claim.get("metadata") or {}
    spec = claim.get("spec") or {}
    if meta.get("deletionTimestamp") or spec.get("volumeName"):
        return False
    if ((claim.get("status") or {}).get("phase") or "Pending") != "Pending":
        return False
    storage_class = spec.get("storageClassName")
    return not storage_class or storage_class in classes


def volume_name(claim: Mapping[str, Any]) -> str:
    # The dynamic provisioners' convention: unique, and traceable to its claim.
    return f"pvc-{claim['metadata']['uid']}"


def volume_for(claim: Mapping[str, Any], root: Path) -> dict[str, Any]:
    """The PersistentVolume pre-bound to ``claim``, its data under ``root``."""
    meta, spec = claim["metadata"], claim.get("spec") or {}
    name = volume_name(claim)
    volume_spec: dict[str, Any] = {
        "capacity": {"storage": requested_size(claim)},
        "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
        "volumeMode": spec.get("volumeMode") or "Filesystem",
        "persistentVolumeReclaimPolicy": "Retain",
        "hostPath": {"path": str(root / name)},
        "claimRef": {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "namespace": meta["namespace"],
            "name": meta["name"],
            "uid": meta["uid"],
        },
    }
    if spec.get("storageClassName"):
        volume_spec["storageClassName"] = spec["storageClassName"]
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "labels": {LABEL: "true"}},
        "spec": volume_spec,
    }


def requested_size(claim: Mapping[str, Any]) -> str:
    requests = ((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}
    return str(requests.get("storage") or "1Gi")


def is_spent(volume: Mapping[str, Any]) -> bool:
    """True for a volume of ours whose claim is gone (or that failed): delete it."""
    meta = volume.get("metadata") or {}
    phase = (volume.get("status") or {}).get("phase")
    # Already being deleted: its later events need nothing more.
    fresh = not meta.get("deletionTimestamp")
    return fresh and (meta.get("labels") or {}).get(LABEL) == "true" and phase in SPENT_PHASES


# --- I/O: backing paths and API calls ---------------------------------------------


def make_backing(volume: Mapping[str, Any]) -> None:
    """Create what the volume's hostPath names: a directory, or a sparse file for Block."""
    spec = volume["spec"]
    path = Path(spec["hostPath"]["path"])
    if spec["volumeMode"] == "Block":
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab") as handle:
            handle.truncate(int(utils.parse_quantity(spec["capacity"]["storage"])))
    else:
        path.mkdir(parents=True, exist_ok=True)


def remove_backing(volume: Mapping[str, Any], root: Path) -> None:
    path = Path(((volume.get("spec") or {}).get("hostPath") or {}).get("path") or "")
    # Only ever what this provisioner made: a direct child of its root.
    if path.parent != root or not re.fullmatch(r"pvc-[0-9a-f-]+", path.name):
        return
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@dataclass
class Provisioner:
    core: Any  # kubernetes.client.CoreV1Api
    root: Path
    classes: frozenset[str] = frozenset()

    def claim_changed(self, claim: dict[str, Any]) -> None:
        if not wants_volume(claim, self.classes):
            return
        volume = volume_for(claim, self.root)
        make_backing(volume)
        try:
            self.core.create_persistent_volume(volume)
        except ApiException as exc:
            if exc.status != HTTP_CONFLICT:
                raise
            return  # made earlier (an event seen twice, or a re-list)
        meta = claim["metadata"]
        log.info(
            "created %s (%s, %s) for claim %s/%s",
            volume["metadata"]["name"],
            volume["spec"]["volumeMode"],
            volume["spec"]["capacity"]["storage"],
            meta["namespace"],
            meta["name"],
        )

    def volume_changed(self, volume: dict[str, Any]) -> None:
        if not is_spent(volume):
            return
        name = volume["metadata"]["name"]
        # The data first: a volume that is gone from the API has no data left
        # (shared/teardown.py waits for the volume, not for its path).
        remove_backing(volume, self.root)
        try:
            self.core.delete_persistent_volume(name)
        except ApiException as exc:
            if exc.status != HTTP_NOT_FOUND:
                raise
        else:
            log.info("deleted %s (%s)", name, volume["status"]["phase"])

    def loops(self, ready: threading.Barrier) -> list[Callable[[], None]]:
        """The two list-and-watch loops; each waits at ``ready`` after its first list."""
        claims = self.core.list_persistent_volume_claim_for_all_namespaces
        volumes = self.core.list_persistent_volume
        return [
            lambda: list_and_watch(claims, self.claim_changed, name="claims", ready=ready),
            lambda: list_and_watch(
                volumes, self.volume_changed, name="volumes", selector=SELECTOR, ready=ready
            ),
        ]


def list_and_watch(
    lister: Callable[..., Any],
    handle: Callable[[dict[str, Any]], None],
    *,
    name: str,
    selector: str = "",
    ready: threading.Barrier | None = None,
) -> None:
    """List, handle every item, then watch from the list's resourceVersion; forever.

    410 Gone (the resourceVersion is too old) starts over with a list; any
    other failure too, after a backoff that grows while failures repeat.
    """
    backoff = 0.0
    while True:
        try:
            # Raw JSON, like the watch events' raw_object: handlers see plain dicts.
            listed = json.loads(lister(label_selector=selector, _preload_content=False).data)
            for item in listed["items"]:
                handle(item)
            version = listed["metadata"]["resourceVersion"]
            if ready is not None:
                ready.wait()
                ready = None
            stream = watch.Watch().stream(
                lister,
                label_selector=selector,
                resource_version=version,
                allow_watch_bookmarks=True,
                timeout_seconds=WATCH_SECONDS,
                _request_timeout=WATCH_SECONDS + 30,
            )
            for event in stream:
                backoff = 0.0
                if event["type"] in ("ADDED", "MODIFIED"):
                    handle(event["raw_object"])
            # The server ended the watch (its timeout): list again, which also
            # catches anything a handler failed on.
        except ApiException as exc:
            if exc.status == HTTP_GONE:
                log.info("%s: resourceVersion expired, listing again", name)
                continue
            backoff = _failed(name, exc, backoff)
        except Exception as exc:
            backoff = _failed(name, exc, backoff)


def _failed(name: str, exc: Exception, backoff: float) -> float:
    backoff = min(MAX_BACKOFF, max(0.5, backoff * 2))
    log.warning("%s: %s: %s; listing again in %.1fs", name, type(exc).__name__, exc, backoff)
    time.sleep(backoff)
    return backoff


def serve(kubeconfig: Path, root: Path, classes: frozenset[str]) -> None:
    """Run both loops until the process is told to stop (SIGTERM/SIGINT)."""
    api = config.new_client_from_config(config_file=str(kubeconfig))
    provisioner = Provisioner(client.CoreV1Api(api), root, classes)
    ready = threading.Barrier(3)
    for index, loop in enumerate(provisioner.loops(ready)):
        threading.Thread(target=loop, name=f"loop-{index}", daemon=True).start()
    ready.wait()
    log.info("%s (root %s, classes %s)", READY_LINE, root, ",".join(sorted(classes)) or "-")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    log.info("provisioner stopped")


# --- processes ------------------------------------------------------------------


def volumes_dir(paths: Paths) -> Path:
    return paths.state / "volumes"


@dataclass
class RunningProvisioner:
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def running_provisioner(
    env: LocalEnv, log_dir: Path, classes: Sequence[str] = ()
) -> Iterator[RunningProvisioner]:
    """Run the provisioner against ``env`` as a process; stop it (SIGTERM) on exit.

    Returns once it has listed claims and volumes and is watching, so every
    claim made from then on gets a volume. Its log is ``log_dir/volumes.log``.
    """
    log_path = log_dir / "volumes.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                PROVISIONER_MODULE,
                "--name",
                env.name,
                *(f"--storage-class={c}" for c in classes),
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        running = RunningProvisioner(process, log_path)
        try:
            _wait_started(running)
            yield running
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _wait_started(running: RunningProvisioner) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while READY_LINE not in running.log():
        if running.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the volume provisioner did not start:\n{running.log()[-3000:]}")
        time.sleep(0.1)


def main(args: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=f"python -m {PROVISIONER_MODULE}", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--name", default=None, help="environment name (default: $G8S_ENV_NAME)")
    parser.add_argument(
        "--storage-class",
        action="append",
        default=[],
        help="also provision claims of this StorageClass (repeatable)",
    )
    options = parser.parse_args(args)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stdout
    )
    paths = Paths(options.name or env_name())
    if not paths.kubeconfig.exists():
        print(f"no local environment {paths.name!r} (no {paths.kubeconfig})", file=sys.stderr)
        return 1
    serve(paths.kubeconfig, volumes_dir(paths), frozenset(options.storage_class))
    return 0


if __name__ == "__main__":
    sys.exit(main())
