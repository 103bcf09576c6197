"""A Cluster's deletion waits for each stage's children in process, told by the watches.

Covers: when the watches tell that a stage's children are gone, the next
stage is deleted in the same handler call, with one listing per stage, not
one per retry; children the watches never saw make the handler come back
after the plain recheck delay; a stage whose children go slowly is waited
for without a request until their count changes or the report time ends;
``owners.until_gone`` on its own.
"""

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from operators.cluster import handlers
from operators.cluster.model import parse
from operators.cluster.status import deleting, deleting_stage
from shared import owners
from shared.conditions import set_condition
from shared.kube import Kube
from shared.owners import until_gone
from tests.unit.cluster.helpers import FakeKube, cluster_body
from tests.unit.cluster.test_reconcile import run_initialized

CHILD_KINDS = ("Certificate", "EtcdCluster", "ClusterNetwork", "KVMNode")


class Memo:
    def __init__(self, kube: FakeKube) -> None:
        self.kube = kube
        self.seen: dict[str, Any] = {}

    def client(self) -> Kube:
        return self.kube.as_kube()


def children_seen(kube: FakeKube) -> dict[str, Any]:
    """The watches' memory: every child alive, by shared.owners.child_key."""
    return {
        f"{ns}/{kind}/{name}": object() for (kind, ns, name) in kube.objects if kind in CHILD_KINDS
    }


async def watching(kube: FakeKube, seen: dict[str, Any]) -> None:
    """Tell of each deleted child, as the watches do, a little later."""
    while True:
        await asyncio.sleep(0.02)
        for key in [k for k in seen if tuple(k.split("/")) not in alive(kube)]:
            del seen[key]


def alive(kube: FakeKube) -> set[tuple[str, str, str]]:
    return {(ns, kind, name) for (kind, ns, name) in kube.objects}


def setup() -> tuple[FakeKube, Memo, Any]:
    kube = FakeKube()
    run_initialized(kube, cluster_body())
    memo = Memo(kube)
    memo.seen = children_seen(kube)
    kube.listed.clear()
    return kube, memo, parse(cluster_body()).ref


def test_the_next_stage_follows_in_the_same_call_when_the_watches_tell() -> None:
    kube, memo, cluster = setup()

    async def scenario() -> tuple[Any, float]:
        watcher = asyncio.create_task(watching(kube, memo.seen))
        try:
            return await handlers.next_stage(memo, cluster, reported="workers")
        finally:
            watcher.cancel()

    stage, delay = asyncio.run(scenario())
    assert stage.name == "controlplane"
    assert delay == handlers.STAGE_LOOK_AGAIN_SECONDS
    # Workers deleted, then the control plane: one listing each, of the nodes
    # (reconcile.delete_next lists no kind past the stage it finds).
    assert kube.listed == ["KVMNode", "KVMNode"]
    assert not [k for k in kube.objects if k[0] == "KVMNode" and "-w-" in k[2]]


def test_a_stage_the_status_does_not_name_yet_returns_at_once_to_be_written() -> None:
    kube, memo, cluster = setup()
    stage, delay = asyncio.run(handlers.next_stage(memo, cluster, reported=None))
    assert stage.name == "workers"
    assert delay == handlers.STAGE_LOOK_AGAIN_SECONDS
    assert kube.listed == ["KVMNode"]


def test_the_status_names_the_stage_it_was_written_with() -> None:
    now = datetime.now(UTC)
    written = set_condition([], deleting("controlplane", 3), generation=1, now=now)
    assert deleting_stage(written) == "controlplane"
    done = set_condition(written, deleting(None, 0), generation=1, now=now)
    assert deleting_stage(done) is None
    assert deleting_stage([]) is None


def test_children_never_seen_are_looked_at_again_after_the_recheck_delay() -> None:
    kube, memo, cluster = setup()
    memo.seen = {}
    stage, delay = asyncio.run(handlers.next_stage(memo, cluster, reported="workers"))
    assert stage.name == "workers"
    assert delay == handlers.DELETE_RECHECK_SECONDS
    assert kube.listed == ["KVMNode"]


def test_a_stage_held_up_costs_nothing_until_the_report_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kube, memo, cluster = setup()
    now = [0.0]

    async def waited(*_: Any, **__: Any) -> bool:
        now[0] += 100.0  # each wait of the stage, told nothing, ends
        return False

    monkeypatch.setattr(owners, "until_gone", waited)
    # Nothing tells of the deletions (a finalizer holds the workers).
    stage, delay = asyncio.run(
        handlers.next_stage(memo, cluster, reported="workers", clock=lambda: now[0])
    )
    assert stage.name == "workers"
    assert delay == handlers.STAGE_LOOK_AGAIN_SECONDS
    # Three waits of 100 s reach the 300 s report time with one listing.
    assert now[0] == handlers.STAGE_REPORT_SECONDS
    assert kube.listed == ["KVMNode"]
    assert (stage.left, len(stage.keys)) == (2, 2)


def test_a_stage_whose_count_changes_returns_to_write_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kube, memo, cluster = setup()
    monkeypatch.setattr(handlers, "STAGE_WAIT_SECONDS", 0.1)
    workers = sorted(k for k in memo.seen if "/KVMNode/" in k and "-w-" in k)
    assert len(workers) == 2

    async def scenario() -> tuple[Any, float]:
        # One worker goes and the other is held: the watches tell of one.
        async def one_goes() -> None:
            await asyncio.sleep(0.02)
            del memo.seen[workers[0]]

        going = asyncio.create_task(one_goes())
        try:
            return await handlers.next_stage(memo, cluster, reported="workers")
        finally:
            await going

    stage, delay = asyncio.run(scenario())
    assert (stage.name, stage.left, stage.keys) == ("workers", 1, (workers[1],))
    assert delay == handlers.STAGE_LOOK_AGAIN_SECONDS
    assert kube.listed == ["KVMNode"]


def test_until_gone() -> None:
    seen: dict[str, Any] = {"ns/KVMNode/a": 1, "ns/KVMNode/b": 1}

    async def drop_later() -> None:
        await asyncio.sleep(0.05)
        seen.clear()

    async def scenario() -> tuple[bool | None, bool | None, bool | None]:
        unknown = await until_gone(seen, ["ns/KVMNode/c"], within=5)
        still = await until_gone(seen, ["ns/KVMNode/a"], within=0.05, poll=0.01)
        dropping = asyncio.create_task(drop_later())
        gone = await until_gone(seen, ["ns/KVMNode/a", "ns/KVMNode/b"], within=5, poll=0.01)
        await dropping
        return unknown, still, gone

    assert asyncio.run(scenario()) == (None, False, True)
