"""Fixtures: a real 3-member etcd cluster on loopback (see driver.py for the operator loop)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.etcd.driver import TIMEOUT, converge, observe
from tests.integration.etcd.localetcd import LocalEtcd, bootstrapped

NAMES = ["m0", "m1", "m2"]

__all__ = ["NAMES", "TIMEOUT", "converge", "observe"]


@pytest.fixture
def local_etcd(tmp_path: Path) -> Iterator[LocalEtcd]:
    yield from bootstrapped(tmp_path / "etcd", NAMES)
