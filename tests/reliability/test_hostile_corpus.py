"""Scenario 7, a hostile input corpus: refused with a message, or handled; nothing crashes.

The corpus is kept in ``corpus/``: ``refused.yaml`` holds objects the API
server must refuse (wrong types, huge numbers, names at and over the limits,
unicode and control characters, oversized and unknown fields, bad CIDRs),
each with what its answer must say (the field's name at least);
``handled.yaml`` holds objects and edits that get through (two clusters with
the same CIDRs, a Cluster named like another's children, objects in another
namespace pointing at a foreign cluster and its Secrets, hostile annotation
values, a status forged by hand) and what the operators must make of each.

Throughout, the healthy Cluster ``steady`` is served: it is scaled in the
middle of it all and must follow. At the end no operator has exited, steady
is Ready with the CA it had, and no Secret of steady's was copied to the
other namespace.
"""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.api import kinds
from tests.e2e.cluster.helpers import apply, cluster
from tests.localenv import LocalEnv, find_json
from tests.objects import BUILDERS, MISSING, changed
from tests.operators import wait_for
from tests.reliability.faults import Summary, ca_of, clusters, items, ready, supervised

CORPUS = Path(__file__).parent / "corpus"
STEADY = "steady"
# The same network for steady and the cluster that copies it.
NETWORK = {"serviceCIDR": "172.31.0.0/16", "podCIDR": "10.2.0.0/16"}
OVERSIZED = "x" * 100_000
TIMEOUT = 240.0
RESOURCES = {kind.kind: kind.crd_name for kind in kinds.ALL_KINDS}
KINDS = {kind.crd_name: kind.kind for kind in kinds.ALL_KINDS}


def load(name: str) -> list[dict[str, Any]]:
    cases = yaml.safe_load((CORPUS / name).read_text())
    assert isinstance(cases, list)
    return cases


def hostile(value: Any) -> Any:
    """The corpus's value with its placeholders filled in."""
    if value == "MISSING":
        return MISSING
    if value == "OVERSIZED":
        return OVERSIZED
    if isinstance(value, dict):
        return {k: hostile(v) for k, v in value.items()}
    return value


def refused_object(case: dict[str, Any], namespace: str) -> dict[str, Any]:
    base = BUILDERS[case["kind"]](f"hostile-{secrets.token_hex(3)}", namespace)
    return changed(base, case["path"], hostile(case["value"]))


def created_object(create: dict[str, Any], namespace: str) -> dict[str, Any]:
    if create["kind"] == "Cluster":
        obj = cluster(create["name"], namespace, workers=0, network=dict(NETWORK))
    else:
        obj = BUILDERS[create["kind"]](create["name"], namespace)
    for path, value in (create.get("set") or {}).items():
        obj = changed(obj, path, hostile(value))
    return obj


def ready_condition(body: dict[str, Any] | None) -> dict[str, Any] | None:
    for cond in ((body or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return dict(cond)
    return None


def test_corpus_holds_at_least_sixty_cases() -> None:
    assert len(load("refused.yaml")) + len(load("handled.yaml")) >= 60


@pytest.fixture
def elsewhere(local_env: LocalEnv) -> Iterator[str]:
    name = f"hostile-elsewhere-{secrets.token_hex(3)}"
    local_env.kubectl("create", "namespace", name)
    yield name
    local_env.kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_hostile_input_is_refused_or_handled(
    local_env: LocalEnv, namespace: str, elsewhere: str, tmp_path: Path
) -> None:
    refused, handled = load("refused.yaml"), load("handled.yaml")
    summary = Summary("hostile-corpus", clusters=1)
    ns = namespace

    def steady_ready() -> bool:
        found = clusters(local_env, ns)
        return STEADY in found and ready(found[STEADY])

    def expectation(case: dict[str, Any], obj: dict[str, Any] | None) -> bool:
        expect = case["expect"]
        if expect == "steady":
            paused = [
                c for c in clusters(local_env, ns)[STEADY]["status"]["conditions"]
                if c["type"] == "Paused" and c["status"] == "True"
            ]  # fmt: skip
            return steady_ready() and not paused
        assert obj is not None
        meta = obj["metadata"]
        now = find_json(local_env, meta["namespace"], RESOURCES[obj["kind"]], meta["name"])
        cond = ready_condition(now)
        if expect in ("ready", "restored"):
            return cond is not None and cond.get("status") == "True"
        assert expect == "condition", expect
        return (
            cond is not None
            and cond.get("status") == "False"
            and bool(cond.get("reason"))
            and bool(cond.get("message"))
        )

    with supervised(local_env, f"{ns},{elsewhere}", tmp_path) as ops:
        apply(local_env, cluster(STEADY, ns, workers=0, network=dict(NETWORK)))
        wait_for(steady_ready, timeout=TIMEOUT, what="steady Ready", interval=2.0)
        ca = ca_of(local_env, ns, STEADY)

        wrongly_accepted = []
        for case in refused:
            bad = refused_object(case, ns)
            result = local_env.kubectl(
                "create", "--validate=strict", "-f", "-", input=json.dumps(bad), check=False
            )
            answer = result.stderr + result.stdout
            if result.returncode == 0:
                wrongly_accepted.append(case["id"])
                local_env.kubectl("delete", "-f", "-", input=json.dumps(bad), check=False)
                continue
            missing = [text for text in case["says"] if text not in answer]
            assert not missing, f"{case['id']}: {missing} not in the API server's answer: {answer}"
        assert not wrongly_accepted, f"accepted: {wrongly_accepted}"

        made: list[dict[str, Any]] = []
        for case in handled:
            obj: dict[str, Any] | None = None
            if "create" in case:
                create = case["create"]
                obj = created_object(create, elsewhere if create.get("elsewhere") else ns)
                local_env.kubectl("create", "-f", "-", input=json.dumps(obj))
                made.append(obj)
            else:
                edit = case["patch"]
                args = ["--subresource=status"] if edit.get("subresource") else []
                local_env.kubectl(
                    "patch", "-n", ns, edit["target"], "--type=merge", *args,
                    "-p", json.dumps(hostile(edit["body"])),
                )  # fmt: skip
                if case["expect"] == "restored":
                    kind, name = edit["target"].split("/")
                    obj = {"kind": KINDS[kind], "metadata": {"name": name, "namespace": ns}}
            wait_for(
                functools.partial(expectation, case, obj),
                timeout=TIMEOUT,
                what=f"{case['id']}: {case['expect']}",
                interval=2.0,
            )
            # A case may disturb the healthy cluster for a moment (a child's
            # status forged, a scale-up); it must come back Ready on its own.
            wait_for(
                steady_ready,
                timeout=TIMEOUT,
                what=f"steady Ready again after {case['id']}",
                interval=2.0,
            )
            summary.faults += 1
        summary.faults += len(refused)

        workers = items(local_env, ns, "kvmnodes.g8s.io", "-l", f"g8s.io/cluster={STEADY}")
        assert sum(n["spec"]["role"] == "worker" for n in workers) == 1, "steady was not scaled"
        copied = [
            s["metadata"]["name"]
            for s in items(local_env, elsewhere, "secrets")
            if s["metadata"]["name"].startswith(f"{STEADY}-etcd")
        ]
        summary.leaked += [f"Secret {elsewhere}/{name} copied" for name in copied]
        if ca_of(local_env, ns, STEADY) != ca:
            summary.lost.append("steady's CA changed")
        summary.converged = int(steady_ready())
        for obj in reversed(made):
            meta = obj["metadata"]
            local_env.kubectl(
                "delete", RESOURCES[obj["kind"]], meta["name"], "-n", meta["namespace"],
                "--timeout=240s", timeout=260,
            )  # fmt: skip
        crashed = ops.crashed()
    assert not crashed, f"operators exited on their own: {crashed}"
    summary.check()
