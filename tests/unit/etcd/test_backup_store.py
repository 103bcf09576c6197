"""The filesystem backup store: atomic writes, checksums, listing, keys, deletion."""

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import pytest

from shared.backup import BackupError, FilesystemStore, backup_name


def test_backup_names_sort_by_time() -> None:
    assert backup_name(datetime(2026, 5, 1, 6, 0, 1, tzinfo=UTC)) == "20260501T060001Z"
    assert backup_name(datetime(2026, 5, 1, tzinfo=UTC), "manual") == "20260501T000000Z-manual"


def test_write_list_get_delete(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path)
    payload = b"snapshot-bytes" * 1000

    def fill(out: BinaryIO) -> None:
        out.write(payload)

    first = store.write("ns/demo", "20260501T000000Z", fill)
    second = store.write("ns/demo", "20260501T060000Z", fill)
    assert first.location == "ns/demo/20260501T000000Z.db"
    assert first.size == len(payload)
    assert first.sha256 == hashlib.sha256(payload).hexdigest()
    assert store.path(first.location) == tmp_path / "ns" / "demo" / "20260501T000000Z.db"
    assert [b.name for b in store.list("ns/demo")] == [first.name, second.name]
    assert store.get(first.location) == first
    store.delete(first.location)
    assert store.get(first.location) is None
    assert [b.name for b in store.list("ns/demo")] == [second.name]
    assert store.list("ns/other") == []


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path)

    def broken(out: BinaryIO) -> None:
        out.write(b"half")
        raise OSError("stream broke")

    with pytest.raises(BackupError, match="stream broke"):
        store.write("ns/demo", "20260501T000000Z", broken)
    assert list((tmp_path / "ns" / "demo").iterdir()) == []


@pytest.mark.parametrize("key", ["../x/20260501T000000Z.db", "ns/demo/evil.db", "/abs/x.db"])
def test_bad_keys_are_refused(tmp_path: Path, key: str) -> None:
    with pytest.raises(BackupError):
        FilesystemStore(tmp_path).get(key)
