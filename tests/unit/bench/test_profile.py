"""The benchmark's profile reading: collapsed stacks, Vault audit lines, retries."""

import json
from collections import Counter
from pathlib import Path

from bench.cluster import profile


def test_a_frame_keeps_the_function_and_the_module_not_the_machine() -> None:
    frame = "reconcile (/somewhere/project/operators/cluster/reconcile.py:120)"
    assert profile.short(frame) == "reconcile (operators/cluster/reconcile.py)"
    library = "loads (/x/.venv/lib/python3.11/site-packages/yaml/__init__.py:80)"
    assert profile.short(library) == "loads (yaml/__init__.py)"
    stdlib = "select (/usr/lib/python3.11/selectors.py:468)"
    assert profile.short(stdlib) == "select (selectors.py)"


def test_own_samples_per_function_and_the_projects_functions_on_the_stack(
    tmp_path: Path,
) -> None:
    stacks = tmp_path / "op.stacks"
    loop = "process 1;run (/usr/lib/python3.11/asyncio/runners.py:1)"
    work = "reconcile (/p/operators/kvm/reconcile.py:2)"
    stacks.write_text(
        f"{loop};{work};loads (/v/lib/python3.11/site-packages/yaml/x.py:3) 30\n"
        f"{loop};reconcile (/p/operators/kvm/reconcile.py:9) 10\n"
        f"{loop};select (/usr/lib/python3.11/selectors.py:4) 60\n"
        "garbage line\n"
    )
    read = profile.read(stacks)
    assert read.samples == 100
    assert read.own["loads (yaml/x.py)"] == 30
    assert read.own["reconcile (operators/kvm/reconcile.py)"] == 10  # its lines add up
    assert read.within["reconcile (operators/kvm/reconcile.py)"] == 40
    assert "run (asyncio/runners.py)" not in read.within  # on every stack: says nothing
    assert read.top(read.own, 1) == [" 60.0%  select (selectors.py)"]


def test_a_missing_stack_file_is_an_empty_profile(tmp_path: Path) -> None:
    assert profile.read(tmp_path / "none").samples == 0


def test_vault_paths_leave_out_the_cluster_and_the_role() -> None:
    assert profile.vault_path("pki-ns-abc/sign/etcd-peer-cp-1") == "pki-*/sign/*"
    assert profile.vault_path("pki-ns-abc/roles/admin") == "pki-*/roles/*"
    assert profile.vault_path("pki-ns-abc/tidy") == "pki-*/tidy"
    assert profile.vault_path("sys/mounts/pki-ns-abc") == "sys/mounts/*"
    assert profile.vault_path("sys/mounts/pki-ns-abc/tune") == "sys/mounts/*/tune"
    assert profile.vault_path("sys/mounts") == "sys/mounts"


def test_vault_requests_are_read_from_the_offset_on(tmp_path: Path) -> None:
    audit = tmp_path / "audit.log"
    before = json.dumps({"type": "request", "request": {"operation": "read", "path": "sys/x"}})
    audit.write_text(before + "\n")
    offset = profile.audit_size(audit)
    lines = [
        {"type": "request", "request": {"operation": "update", "path": "pki-a/sign/r1"}},
        {"type": "response", "request": {"operation": "update", "path": "pki-a/sign/r1"}},
        {"type": "request", "request": {"operation": "update", "path": "pki-b/sign/r2"}},
    ]
    with audit.open("a") as log:
        log.write("\n".join(json.dumps(line) for line in lines) + "\n{half a line")
    assert profile.vault_requests(audit, offset) == {"update  pki-*/sign/*": 2}


def test_per_cluster_rows_start_with_the_total() -> None:
    rows = profile.per_cluster(Counter({"a": 30, "b": 10}), clusters=10)
    assert rows[0].split()[:3] == ["all", "40", "4.0"]
    assert rows[1].split()[:3] == ["a", "30", "3.0"]
