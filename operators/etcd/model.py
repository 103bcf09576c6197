"""Typed view of an ``EtcdCluster``.

``parse`` turns the object body into an ``EtcdClusterSpec`` or raises
``InvalidSpec`` naming the field, for what the CRD's schema let through.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from operators.etcd import cron
from shared import fields
from shared.api import labels
from shared.errors import InvalidSpec

REPLICA_COUNTS = (1, 3, 5)
DEFAULT_VERSION = "3.6.16"
DEFAULT_STORAGE_GIB = 10
DEFAULT_KEEP = 7
DEFAULT_BACKUP_SCHEDULE = "0 */6 * * *"
DEFAULT_DEFRAG_SCHEDULE = "30 3 * * *"
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?$")
_VERSION = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+$")
_LOCATION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*[.]db$")
_CHECKSUM = re.compile(r"^([0-9a-f]{64})?$")
_DIRECTORY = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(/[a-z0-9]([a-z0-9.-]*[a-z0-9])?)*$")


@dataclass(frozen=True)
class TLSSecrets:
    """Names of the ``kubernetes.io/tls`` Secrets the members use (certificates operator)."""

    server: str
    peer: str
    client: str


@dataclass(frozen=True)
class Resources:
    cpu: str
    memory: str


@dataclass(frozen=True)
class BackupSpec:
    schedule: cron.Schedule | None
    schedule_text: str
    keep: int
    # Directory inside the backup store.
    directory: str
    defrag_schedule: cron.Schedule | None


@dataclass(frozen=True)
class RestoreSpec:
    """Bootstrap from this snapshot: its key in the backup store and, optionally, its SHA-256."""

    location: str
    checksum: str


@dataclass(frozen=True)
class EtcdClusterSpec:
    name: str
    namespace: str
    uid: str
    # The guest cluster this etcd serves: the EtcdCluster is named after it.
    cluster: str
    replicas: int
    version: str
    image: str
    storage_size: str
    storage_class: str | None
    resources: Resources
    tls: TLSSecrets
    backup: BackupSpec
    restore: RestoreSpec | None
    # Value of the g8s.io/backup-now annotation ("" when absent).
    backup_request: str


def _quantity(body: Mapping[str, Any], path: str, default: str) -> str:
    value = fields.at(body, path, default)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _QUANTITY.match(value):
        raise InvalidSpec(path, f"must be a Kubernetes quantity such as 10Gi, got {value!r}")
    return value


def _schedule(body: Mapping[str, Any], path: str, default: str) -> tuple[cron.Schedule | None, str]:
    text = fields.at(body, path, default)
    if text in (None, ""):
        return None, ""
    if not isinstance(text, str):
        raise InvalidSpec(path, f"must be a cron expression, got {text!r}")
    try:
        return cron.parse(text), text
    except ValueError as exc:
        raise InvalidSpec(path, str(exc)) from None


def parse(body: Mapping[str, Any]) -> EtcdClusterSpec:
    name = fields.string(body, "metadata.name")
    annotations = fields.at(body, "metadata.annotations") or {}
    replicas = fields.integer(body, "spec.replicas", default=1, minimum=1, maximum=5)
    if replicas not in REPLICA_COUNTS:
        raise InvalidSpec("spec.replicas", f"must be 1, 3 or 5 (an odd quorum), got {replicas}")
    version = fields.string(body, "spec.version", default=DEFAULT_VERSION)
    if not _VERSION.match(version):
        raise InvalidSpec("spec.version", f"must be an etcd version such as 3.6.4, got {version!r}")
    storage_gib = fields.integer(
        body, "spec.storage.sizeGiB", default=DEFAULT_STORAGE_GIB, minimum=1, maximum=1024
    )
    storage_class = fields.at(body, "spec.storage.storageClassName")
    if storage_class is not None and not isinstance(storage_class, str):
        raise InvalidSpec("spec.storage.storageClassName", "must be a string")
    schedule, schedule_text = _schedule(body, "spec.backup.schedule", DEFAULT_BACKUP_SCHEDULE)
    defrag, _ = _schedule(body, "spec.defragmentation.schedule", DEFAULT_DEFRAG_SCHEDULE)
    restore = None
    if fields.at(body, "spec.restore") is not None:
        location = fields.string(body, "spec.restore.location")
        if not _LOCATION.match(location) or ".." in location.split("/"):
            raise InvalidSpec(
                "spec.restore.location", f"not a backup location in the store: {location!r}"
            )
        checksum = str(fields.at(body, "spec.restore.checksum") or "")
        if not _CHECKSUM.match(checksum):
            raise InvalidSpec("spec.restore.checksum", "must be 64 lower-case hex digits")
        restore = RestoreSpec(location=location, checksum=checksum)
    directory = fields.at(body, "spec.backup.store.path") or ""
    if not isinstance(directory, str) or (directory and not _DIRECTORY.match(directory)):
        raise InvalidSpec("spec.backup.store.path", f"not a relative directory: {directory!r}")
    store_type = fields.string(body, "spec.backup.store.type", default="Filesystem")
    if store_type != "Filesystem":
        raise InvalidSpec("spec.backup.store.type", f"unsupported store {store_type!r}")
    image = fields.at(body, "spec.image") or ""
    if not isinstance(image, str):
        raise InvalidSpec("spec.image", "must be a string")
    return EtcdClusterSpec(
        name=name,
        namespace=fields.string(body, "metadata.namespace"),
        uid=str(fields.at(body, "metadata.uid") or ""),
        cluster=name,
        replicas=replicas,
        version=version,
        image=image,
        storage_size=f"{storage_gib}Gi",
        storage_class=storage_class or None,
        resources=Resources(
            cpu=_quantity(body, "spec.resources.cpu", "200m"),
            memory=_quantity(body, "spec.resources.memory", "512Mi"),
        ),
        tls=TLSSecrets(
            server=fields.string(body, "spec.tls.serverSecretName"),
            peer=fields.string(body, "spec.tls.peerSecretName"),
            client=fields.string(body, "spec.tls.clientSecretName"),
        ),
        backup=BackupSpec(
            schedule=schedule,
            schedule_text=schedule_text,
            keep=fields.integer(
                body, "spec.backup.keep", default=DEFAULT_KEEP, minimum=1, maximum=100
            ),
            directory=directory or f"{fields.string(body, 'metadata.namespace')}/{name}",
            defrag_schedule=defrag,
        ),
        restore=restore,
        backup_request=str(annotations.get(labels.BACKUP_NOW) or ""),
    )
