"""bench.cluster deletes the Clusters' collection again when the API server cuts it off."""

import pytest

from bench.cluster.__main__ import DELETE_ATTEMPTS, delete_collection
from tests.localenv import CommandError

PATH = "/apis/g8s.io/v1alpha1/namespaces/many/clusters"
CUT_OFF = "Unable to connect to the server: stream error: stream ID 1; INTERNAL_ERROR"


class Kubectl:
    """Fails ``failures`` times as the API server's 60-s limit does, then answers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, *args: str) -> object:
        self.calls.append(args)
        if len(self.calls) <= self.failures:
            raise CommandError(1, ["kubectl", *args], "", CUT_OFF)
        return None


def test_a_cut_off_delete_is_sent_again_until_answered() -> None:
    kubectl = Kubectl(failures=2)
    assert delete_collection(kubectl, PATH) == 3
    assert kubectl.calls == [("delete", "--raw", PATH)] * 3


def test_an_answer_at_once_is_one_attempt() -> None:
    kubectl = Kubectl(failures=0)
    assert delete_collection(kubectl, PATH) == 1


def test_it_gives_up_after_the_last_attempt() -> None:
    kubectl = Kubectl(failures=DELETE_ATTEMPTS)
    with pytest.raises(CommandError):
        delete_collection(kubectl, PATH)
    assert len(kubectl.calls) == DELETE_ATTEMPTS
