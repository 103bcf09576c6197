"""The metrics endpoint serves the operator's own registry over HTTP."""

import urllib.request

from shared.metrics import OperatorMetrics
from tests.localenv import free_port as _free_port


def test_endpoint_serves_reconcile_metrics() -> None:
    metrics = OperatorMetrics("network")
    metrics.reconciliations.labels("ClusterNetwork", "allocate", "ok").inc()
    port = _free_port()
    metrics.serve(port, "127.0.0.1")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert (
        'g8s_reconciliations_total{kind="ClusterNetwork",result="ok",step="allocate"} 1.0' in text
    )


def test_each_operator_has_its_own_registry() -> None:
    first, second = OperatorMetrics("a"), OperatorMetrics("b")
    first.errors.labels("K", "s", "R").inc()
    assert second.errors.labels("K", "s", "R")._value.get() == 0
