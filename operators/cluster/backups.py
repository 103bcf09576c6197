"""``g8s backup <cluster>``: back up a guest's etcd now, and say where the backup is.

Asks the etcd operator through the annotation ``g8s.io/backup-now`` on the
cluster's EtcdCluster (each new value asks once more), then waits until its
status records that request as done (``status.lastBackupRequest``) and prints
the backup as a new Cluster's ``spec.etcd.restoreFrom`` takes it. While it
waits, each new ``BackupReady`` message is shown, so that a backup that
cannot be taken (no backup store, no healthy member) says why at once rather
than only when the wait ends.
"""

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from shared import conditions as cond
from shared.api import API_VERSION
from shared.api import conditions as c
from shared.api.kinds import ETCD_CLUSTER
from shared.api.labels import BACKUP_NOW
from shared.kube import ObjectRef

POLL_SECONDS = 2.0


class Client(Protocol):
    def get(self, ref: ObjectRef) -> dict[str, Any] | None: ...

    def patch(self, ref: ObjectRef, body: Mapping[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Progress:
    """What the EtcdCluster says of a backup request."""

    # status.lastBackup once the request is recorded as done, else None.
    backup: Mapping[str, Any] | None
    # BackupReady, as one line.
    condition: str


def request_value(now: datetime, token: str) -> str:
    """A value of ``g8s.io/backup-now`` never used before."""
    return f"{now.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}-{token}"


def progress(body: Mapping[str, Any], value: str) -> Progress:
    status = body.get("status") or {}
    ready = cond.get(status.get("conditions") or [], c.BACKUP_READY) or {}
    line = (
        f"BackupReady={ready.get('status')} {ready.get('reason')}: {ready.get('message')}"
        if ready
        else "BackupReady not reported yet"
    )
    done = status.get("lastBackupRequest") == value and status.get("lastBackup")
    return Progress(dict(status["lastBackup"]) if done else None, line)


def summary(backup: Mapping[str, Any]) -> list[str]:
    """The backup, and how a new Cluster starts from it."""
    return [
        f"backup {backup.get('location')}: {backup.get('size')} bytes, "
        f"etcd revision {backup.get('revision')}, taken {backup.get('time')}",
        "a new Cluster starts from it with:",
        "  spec:",
        "    etcd:",
        "      restoreFrom:",
        f"        location: {backup.get('location')}",
        f"        checksum: {backup.get('checksum')}",
    ]


def backup(
    kube: Client,
    name: str,
    namespace: str,
    *,
    timeout: float,
    say: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Mapping[str, Any]:
    """Ask for a backup of Cluster ``name``'s etcd and wait for it; the backup's record."""
    ref = ObjectRef(API_VERSION, ETCD_CLUSTER.kind, name, namespace)
    if kube.get(ref) is None:
        raise LookupError(f"EtcdCluster {namespace}/{name} not found: is {name} a Cluster here?")
    value = request_value(datetime.now(UTC), secrets.token_hex(3))
    kube.patch(ref, {"metadata": {"annotations": {BACKUP_NOW: value}}})
    say(f"asked for a backup of {namespace}/{name} ({BACKUP_NOW}={value})")
    deadline, shown = clock() + timeout, ""
    while True:
        body = kube.get(ref)
        if body is None:
            raise LookupError(f"EtcdCluster {namespace}/{name} was deleted while waiting")
        seen = progress(body, value)
        if seen.backup is not None:
            return seen.backup
        if seen.condition != shown:
            say(seen.condition)
            shown = seen.condition
        if clock() >= deadline:
            raise TimeoutError(f"no backup within {timeout:.0f} s; last: {shown}")
        sleep(POLL_SECONDS)
