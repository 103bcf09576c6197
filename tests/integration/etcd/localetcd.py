"""Real etcd members as local processes on loopback: what the kubelet does for the pods.

A ``LocalEtcd`` starts ``.tools/bin/etcd`` processes with free ports and data
directories under a temporary directory, the way the StatefulSet's pods run
them (one name, one data directory, one peer and one client URL each), so
the operator's etcd adapter and policies can be exercised against a real
cluster: bootstrap, join as a learner, kill, wipe. Used by the integration
tests and by ``bench/etcd``. A missing binary raises ``MissingEtcdError`` with a
message naming ``make tools``; callers turn it into a test failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.localenv import free_port

ROOT = Path(__file__).resolve().parents[3]
BIN = ROOT / ".tools" / "bin"
ETCD = BIN / "etcd"
ETCDUTL = BIN / "etcdutl"
START_TIMEOUT = 30.0


class MissingEtcdError(RuntimeError):
    """The etcd binaries are not in .tools/bin."""


def require_binaries() -> None:
    missing = [str(path) for path in (ETCD, ETCDUTL) if not os.access(path, os.X_OK)]
    if missing:
        raise MissingEtcdError(f"{', '.join(missing)} missing: run `make tools` to build etcd")


@dataclass
class LocalMember:
    name: str
    data_dir: Path
    client_port: int = field(default_factory=free_port)
    peer_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def client_url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class LocalEtcd:
    """A set of etcd members on loopback, keyed by member name."""

    def __init__(self, root: Path, token: str = "g8s-test") -> None:  # noqa: S107 - not a secret
        require_binaries()
        self.root = root
        self.token = token
        self.members: dict[str, LocalMember] = {}

    def member(self, name: str) -> LocalMember:
        if name not in self.members:
            self.members[name] = LocalMember(name, self.root / name / "data")
        return self.members[name]

    def initial_cluster(self, names: list[str]) -> str:
        return ",".join(f"{n}={self.member(n).peer_url}" for n in names)

    @property
    def endpoints(self) -> list[str]:
        return [m.endpoint for m in self.members.values() if m.running]

    def bootstrap(self, names: list[str]) -> None:
        """Start a new cluster of ``names`` and wait until every member is healthy."""
        cluster = self.initial_cluster(names)
        for name in names:
            self.start(name, cluster, "new")
        for name in names:
            self.wait_healthy(name)

    def start(self, name: str, initial_cluster: str, state: str) -> LocalMember:
        member = self.member(name)
        member.data_dir.parent.mkdir(parents=True, exist_ok=True)
        log = (self.root / f"{name}.log").open("ab")
        member.process = subprocess.Popen(
            [
                str(ETCD),
                "--name",
                name,
                "--data-dir",
                str(member.data_dir),
                "--listen-client-urls",
                member.client_url,
                "--advertise-client-urls",
                member.client_url,
                "--listen-peer-urls",
                member.peer_url,
                "--initial-advertise-peer-urls",
                member.peer_url,
                "--initial-cluster",
                initial_cluster,
                "--initial-cluster-state",
                state,
                "--initial-cluster-token",
                self.token,
                "--log-level",
                "warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        return member

    def start_existing(self, name: str) -> LocalMember:
        """(Re)start ``name`` on its data directory; its flags no longer matter then."""
        return self.start(name, self.initial_cluster([name]), "existing")

    def healthy(self, name: str) -> bool:
        member = self.members[name]
        try:
            url = f"{member.client_url}/health"
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - http on loopback
                return b'"health":"true"' in response.read()
        except OSError:
            return False

    def wait_healthy(self, name: str, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        member = self.members[name]
        while time.monotonic() < deadline:
            if not member.running:
                raise RuntimeError(f"etcd {name} exited; see {self.root / (name + '.log')}")
            if self.healthy(name):
                return
            time.sleep(0.1)
        raise TimeoutError(f"etcd {name} not healthy after {timeout}s")

    def wait_running(self, name: str, timeout: float = START_TIMEOUT) -> None:
        """Wait until ``name`` answers on its client port (a learner reports no health)."""
        deadline = time.monotonic() + timeout
        member = self.members[name]
        while time.monotonic() < deadline:
            if not member.running:
                raise RuntimeError(f"etcd {name} exited; see {self.root / (name + '.log')}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", member.client_port), timeout=1),
            ):
                return
            time.sleep(0.1)
        raise TimeoutError(f"etcd {name} not listening after {timeout}s")

    def kill(self, name: str) -> None:
        """SIGKILL, as a node failure would: no graceful leave."""
        member = self.members[name]
        if member.process is not None and member.process.poll() is None:
            member.process.send_signal(signal.SIGKILL)
            member.process.wait(timeout=10)

    def stop(self, name: str) -> None:
        member = self.members[name]
        if member.process is not None and member.process.poll() is None:
            member.process.terminate()
            try:
                member.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                member.process.kill()
                member.process.wait(timeout=10)

    def wipe(self, name: str) -> None:
        """Stop ``name`` and delete its data, as deleting a pod and its PVC does."""
        self.stop(name)
        shutil.rmtree(self.members[name].data_dir, ignore_errors=True)

    def close(self) -> None:
        for name in list(self.members):
            self.stop(name)


def bootstrapped(root: Path, names: Sequence[str]) -> Iterator[LocalEtcd]:
    """A pytest fixture's body: ``names`` bootstrapped under ``root``, stopped after.

    A missing etcd binary fails the test with a clear message, never skips it.
    """
    try:
        cluster = LocalEtcd(root)
    except MissingEtcdError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        cluster.bootstrap(list(names))
        yield cluster
    finally:
        cluster.close()
