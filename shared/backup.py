"""Backup stores: where etcd snapshots are written, listed, read back and pruned.

In the kit because a store is an external system behind a narrow interface
(STYLE 9): the operator only sees ``BackupStore``; the filesystem store
(a directory, e.g. a PVC mounted into the operator) is the one implemented
now, and an object-store implementation can be added beside it without the
operator changing. Backups are grouped in directories (per guest
cluster by default) and named so that names sort by time.

The filesystem store is synchronous (plain file I/O): call it from a sync
step or through ``asyncio.to_thread``. A snapshot is written to a temporary
file and renamed into place only once complete, so a crash never leaves a
half-written backup that looks valid.
"""

import contextlib
import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol

SUFFIX = ".db"
_SAFE = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
_NAME = re.compile(r"^[0-9]{8}T[0-9]{6}Z(-[a-z0-9]+)?$")


class BackupError(Exception):
    """A backup could not be written, found or read."""


@dataclass(frozen=True)
class Backup:
    name: str
    size: int
    sha256: str
    # Its key: where it is inside the store (``<directory>/<name>.db``).
    location: str
    created: datetime


def backup_name(moment: datetime, tag: str = "") -> str:
    """``20260501T060000Z`` (plus ``-tag``): names sort by time."""
    stamp = moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{tag}" if tag else stamp


class BackupStore(Protocol):
    """Backups grouped in directories (``<namespace>/<cluster>`` by default).

    A backup's *key* (``<directory>/<name>.db``) is where it is inside the
    store; it is what ``status.lastBackup.location`` records and what
    ``spec.restore.location`` names.
    """

    def write(self, directory: str, name: str, fill: Callable[[BinaryIO], None]) -> Backup:
        """Store a new backup whose bytes ``fill`` writes into the given file."""
        ...

    def list(self, directory: str) -> list[Backup]:
        """The directory's backups, oldest first."""
        ...

    def get(self, key: str) -> Backup | None: ...

    def delete(self, key: str) -> None: ...


def default_directory(namespace: str, cluster: str) -> str:
    return f"{namespace}/{cluster}"


class FilesystemStore:
    """Backups as files ``<root>/<directory>/<name>.db`` with a ``.sha256`` beside."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _directory(self, directory: str) -> Path:
        parts = directory.split("/")
        if directory.startswith("/") or not all(_SAFE.match(part) for part in parts):
            raise BackupError(f"{directory!r} is not a relative path of DNS names")
        return self.root.joinpath(*parts)

    def _file(self, key: str) -> Path:
        directory, _, filename = key.rpartition("/")
        if not filename.endswith(SUFFIX) or not _NAME.match(filename[: -len(SUFFIX)]):
            raise BackupError(f"{key!r} is not a backup key (<directory>/<name>{SUFFIX})")
        return self._directory(directory) / filename

    def key(self, directory: str, name: str) -> str:
        if not _NAME.match(name):
            raise BackupError(f"{name!r} is not a backup name")
        self._directory(directory)
        return f"{directory}/{name}{SUFFIX}"

    def path(self, key: str) -> Path:
        """The file holding the backup ``key``."""
        return self._file(key)

    def write(self, directory: str, name: str, fill: Callable[[BinaryIO], None]) -> Backup:
        key = self.key(directory, name)
        target = self._file(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        try:
            with partial.open("wb") as out:
                fill(out)
                out.flush()
                os.fsync(out.fileno())
            digest = _sha256(partial)
            target.with_suffix(".sha256").write_text(f"{digest}  {target.name}\n")
            partial.rename(target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                partial.unlink()
            raise BackupError(f"writing {target}: {exc}") from exc
        found = self.get(key)
        if found is None:
            raise BackupError(f"{target} vanished right after it was written")
        return found

    def list(self, directory: str) -> list[Backup]:
        folder = self._directory(directory)
        if not folder.is_dir():
            return []
        found = (self.get(f"{directory}/{p.name}") for p in folder.glob(f"*{SUFFIX}"))
        return sorted((b for b in found if b is not None), key=lambda b: b.name)

    def get(self, key: str) -> Backup | None:
        target = self._file(key)
        try:
            stat = target.stat()
        except FileNotFoundError:
            return None
        try:
            digest = target.with_suffix(".sha256").read_text().split()[0]
        except (OSError, IndexError):
            digest = _sha256(target)
        return Backup(
            name=target.stem,
            size=stat.st_size,
            sha256=digest,
            location=key,
            created=datetime.fromtimestamp(stat.st_mtime, UTC),
        )

    def delete(self, key: str) -> None:
        target = self._file(key)
        for path in (target, target.with_suffix(".sha256")):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
