"""The demo's stage report: which stage a Cluster is in, and one line per change."""

from typing import Any

from tests import progress


def cond(kind: str, status: str, reason: str = "R", message: str = "m") -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "message": message}


def cluster(*conditions: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": "demo"}, "status": {"conditions": list(conditions)}}


def node(name: str, *conditions: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": {"conditions": list(conditions)}}


BASE = (cond("CertificatesReady", "True"), cond("EtcdReady", "True"), cond("NetworkReady", "True"))


def test_the_first_unready_child_names_the_stage() -> None:
    got = progress.stage(cluster(cond("CertificatesReady", "False", "Issuing", "3 of 13")), [])
    assert got == progress.Stage("certificates", "Issuing: 3 of 13")
    got = progress.stage(cluster(cond("CertificatesReady", "True")), [])
    assert got.name == "etcd"
    assert got.message == "Pending: no report yet"


def test_vms_then_guest_api_then_nodes() -> None:
    booting = node("demo-cp-1", cond("VMRunning", "False", "PodNotReady", "pending"))
    assert progress.stage(cluster(*BASE), [booting]).name == "VMs starting"
    unreachable = node(
        "demo-cp-1",
        cond("VMRunning", "True"),
        cond("NodeReady", "False", "GuestUnreachable", "connection refused"),
    )
    assert progress.stage(cluster(*BASE), [unreachable]).name == "guest API"
    registering = node(
        "demo-cp-1", cond("VMRunning", "True"), cond("NodeReady", "False", "NodeNotReady", "x")
    )
    got = progress.stage(cluster(*BASE), [registering])
    assert got.name == "guest nodes"
    assert got.message.startswith("demo-cp-1 NodeNotReady")
    ready = progress.stage(cluster(*BASE, cond("Ready", "True", "Reconciled", "ok")), [])
    assert ready.ready


def test_wait_prints_changes_only_and_stops_when_ready() -> None:
    seen = iter(
        [
            progress.Stage("etcd", "a"),
            progress.Stage("etcd", "a"),
            progress.Stage("network", "b"),
            progress.Stage("ready", "c", ready=True),
        ]
    )
    lines: list[str] = []
    ticks = iter(range(100))
    got = progress.wait(
        lambda: next(seen),
        timeout=1000,
        say=lines.append,
        clock=lambda: float(next(ticks)),
        sleep=lambda _: None,
    )
    assert got.ready
    assert [line.split("] ")[1] for line in lines] == ["etcd: a", "network: b", "ready: c"]


def test_wait_gives_up_at_the_timeout() -> None:
    ticks = iter(range(0, 1000, 10))
    got = progress.wait(
        lambda: progress.Stage("etcd", "a"),
        timeout=30,
        say=lambda _: None,
        clock=lambda: float(next(ticks)),
        sleep=lambda _: None,
    )
    assert not got.ready
