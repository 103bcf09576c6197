"""bench.cluster applies and deletes Clusters a chunk per kubectl, a failed chunk again."""

import json
import threading

import pytest

from bench.cluster.__main__ import ATTEMPTS, apply_all, delete_named
from bench.cluster.follow import Clusters
from tests.localenv import CommandError

TIMEOUT = "Error from server (Timeout): the server was unable to return a response in time"


class Kubectl:
    """Records the names each call deletes; the first ``failures`` calls fail."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls: list[tuple[str, ...]] = []
        self.inputs: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, *args: str, input: str = "") -> object:
        with self.lock:
            self.calls.append(args)
            self.inputs.append(input)
            failing = len(self.calls) <= self.failures
        if failing:
            raise CommandError(1, ["kubectl", *args], "", TIMEOUT)
        return None

    def deleted(self) -> list[str]:
        return sorted(name for call in self.calls for name in call[6:])


NAMES = [f"c{i:03d}" for i in range(120)]


def test_every_cluster_is_deleted_once_in_chunks() -> None:
    kubectl = Kubectl()
    assert delete_named(kubectl, "many", NAMES, chunk=50, parallel=4) == 3
    assert kubectl.deleted() == NAMES
    for call in kubectl.calls:
        assert call[:6] == (
            "delete",
            "clusters.g8s.io",
            "-n",
            "many",
            "--wait=false",
            "--ignore-not-found",
        )
        assert len(call) - 6 <= 50


def test_a_failed_chunk_is_sent_again() -> None:
    kubectl = Kubectl(failures=2)
    assert delete_named(kubectl, "many", NAMES[:10], chunk=10, parallel=1) == 3
    assert len(kubectl.calls) == 3
    assert kubectl.calls[0] == kubectl.calls[2]


def test_it_gives_up_after_the_last_attempt() -> None:
    kubectl = Kubectl(failures=ATTEMPTS)
    with pytest.raises(CommandError):
        delete_named(kubectl, "many", NAMES[:5], parallel=1)
    assert len(kubectl.calls) == ATTEMPTS


def test_the_names_are_those_the_watch_sees_in_the_namespace() -> None:
    seen = Clusters()
    for namespace, name in (("many", "b"), ("many", "a"), ("one", "x")):
        seen.seen({"metadata": {"namespace": namespace, "name": name}})
    assert seen.names_in("many") == ["a", "b"]


def test_every_cluster_is_applied_once_in_chunks_and_a_failed_chunk_again() -> None:
    kubectl = Kubectl(failures=1)
    manifests = [{"kind": "Cluster", "metadata": {"name": name}} for name in NAMES]
    assert apply_all(kubectl, manifests, chunk=50, parallel=1) == 4
    assert all(call == ("apply", "-f", "-") for call in kubectl.calls)
    applied = [json.loads(sent)["items"] for sent in kubectl.inputs]
    assert applied[0] == applied[1]  # the failed chunk, sent again
    assert [len(items) for items in applied[1:]] == [50, 50, 20]
    assert sorted(i["metadata"]["name"] for items in applied[1:] for i in items) == NAMES
