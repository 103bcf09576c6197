"""bench/cluster/follow.py: what the watches tell the benchmark about its Clusters,
and the growth table of several counts (bench/cluster/__main__.py)."""

import argparse
from collections import Counter
from typing import Any

import pytest

from bench.cluster import follow
from bench.cluster.__main__ import Figures, counts, growth


def body(name: str, *, ready: bool, namespace: str = "ns", generation: int = 1) -> dict[str, Any]:
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    return {
        "metadata": {"name": name, "namespace": namespace, "generation": 2},
        "status": {"observedGeneration": generation, "conditions": conditions},
    }


def test_ready_is_the_first_time_ready_for_the_latest_spec() -> None:
    seen = follow.Clusters()
    seen.seen(body("a", ready=True, generation=1))  # Ready, but for an older spec
    seen.seen(body("b", ready=False, generation=2))
    assert seen.ready_since("ns", ["a", "b"], 0.0) == {}
    seen.seen(body("a", ready=True, generation=2))
    first = seen.ready_since("ns", ["a", "b"], 0.0)
    seen.seen(body("a", ready=True, generation=2))  # later events keep the first time
    assert seen.ready_since("ns", ["a", "b"], 0.0) == first
    assert list(first) == ["a"]
    assert seen.count_in(["ns"]) == 2


def test_a_listing_drops_what_it_lacks_in_its_own_namespace_only() -> None:
    seen = follow.Clusters()
    for name, namespace in (("a", "ns"), ("b", "ns"), ("c", "other")):
        seen.seen(body(name, ready=True, namespace=namespace, generation=2))
    seen.listed("ns", [body("b", ready=True, generation=2)])
    assert seen.present == {("ns", "b"), ("other", "c")}
    assert seen.ready_since("ns", ["a", "b"], 0.0).keys() == {"b"}
    seen.gone(("ns", "b"))
    assert seen.count_in(["ns"]) == 0
    assert seen.count_in(["ns", "other"]) == 1


def test_counts_parse_one_or_several_and_refuse_the_rest() -> None:
    assert counts("100") == [100]
    assert counts("10,100,1000") == [10, 100, 1000]
    for bad in ("", "ten", "10,,100", "0", "10,-1"):
        with pytest.raises(argparse.ArgumentTypeError):
            counts(bad)


def figures(count: int, ready: float, rss: float, deleted: float) -> Figures:
    f = Figures(count, 60.0, one=2.0, deleted=deleted)
    f.many = {f"b{i}": ready * (i + 1) / count for i in range(count)}
    f.memory = {"cluster": rss, "kvm": rss / 2}
    f.requests = Counter({("GET", "secrets"): 100 * count})
    return f


def test_growth_shows_each_count_and_the_cost_of_each_added_cluster() -> None:
    shown = growth([figures(10, 20.0, 80.0, 30.0), figures(100, 200.0, 120.0, 210.0)])
    lines = shown.splitlines()
    ten = next(line for line in lines if line.split()[0] == "10")
    # all Ready, per cluster, x one (per cluster / one cluster's 2.0 s)
    assert ten.split()[1:6] == ["20.0", "s", "2.00", "s", "1.00"]
    assert "100.0" in ten  # requests per cluster
    assert "120.0 MiB" in ten  # RSS of both operators
    assert ten.split()[-1] == "1.50"  # deleted (30 s) / build (20 s)
    # (200 - 20) / 90 s, (180 - 120) / 90 MiB, (210 - 30) / 90 s
    assert "per cluster added, 10 -> 100: 2.00 s to all Ready, 0.67 MiB of RSS, 2.00 s" in shown
