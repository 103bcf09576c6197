"""bench/cluster/clientrate.py reads an operator's own request counters."""

import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from bench.cluster import clientrate
from shared.metrics import OperatorMetrics


def test_requests_and_throttling_are_read_from_the_endpoint() -> None:
    metrics = OperatorMetrics("bench-test")
    port = clientrate.free_port()
    metrics.serve(port, "127.0.0.1")
    assert clientrate.read(port) == (0.0, 0.0)
    metrics.api_request(0.0)
    metrics.api_request(0.25)
    metrics.api_request(0.5)
    assert clientrate.read(port) == (3.0, 0.75)


def test_sampling_counts_what_was_sent_inside_the_block() -> None:
    metrics = OperatorMetrics("bench-test-sampled")
    port = clientrate.free_port()
    metrics.serve(port, "127.0.0.1")
    metrics.api_request(0.0, "GET Secret")  # before: not counted
    with clientrate.sampling({"x": port}) as rates:
        for i in range(40):
            metrics.api_request(0.0, "GET Secret" if i % 4 else "PATCH Cluster")
        time.sleep(clientrate.INTERVAL * 1.5)
    assert rates.requests == {"x": 40.0}
    assert rates.peak["x"] == 40.0
    assert rates.throttled == {"x": 0.0}
    assert rates.kinds == {"x": {"GET Secret": 30.0, "PATCH Cluster": 10.0}}
    lines = rates.lines(count=4)
    assert lines[0].split()[:3] == ["x", "40", "10.0"]
    assert lines[1].split() == ["GET", "Secret", "7.5", "per", "cluster"]
    assert lines[2].split() == ["PATCH", "Cluster", "2.5", "per", "cluster"]


def test_only_the_two_counters_are_asked_for() -> None:
    metrics = OperatorMetrics("bench-test-narrow")
    port = clientrate.free_port()
    metrics.serve(port, "127.0.0.1")
    metrics.api_request(0.0, "GET Secret")
    for step in range(50):
        metrics.reconciliations.labels("Certificate", f"step-{step}", "ok").inc()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics?{clientrate.QUERY}") as narrow:
        families = {f.name for f in text_string_to_metric_families(narrow.read().decode())}
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as whole:
        everything = {f.name for f in text_string_to_metric_families(whole.read().decode())}
    assert families == {clientrate.REQUESTS, clientrate.THROTTLED}
    assert "g8s_reconciliations" in everything
    assert clientrate.read_all(port) == ({"GET Secret": 1.0}, 0.0)
