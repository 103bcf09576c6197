"""bench/cluster/clientrate.py reads an operator's own request counters."""

import time

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
