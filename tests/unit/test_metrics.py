"""The metrics endpoint serves the operator's own registry over HTTP."""

import urllib.request

from operators.certificates.metrics import CertificateMetrics
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
    # No "_created" series beside the counters: as many series again, read by nobody.
    assert "_created" not in text


def test_each_operator_has_its_own_registry() -> None:
    first, second = OperatorMetrics("a"), OperatorMetrics("b")
    first.errors.labels("K", "s", "R").inc()
    assert second.errors.labels("K", "s", "R")._value.get() == 0


def test_a_deleted_certificate_leaves_no_series() -> None:
    registry = OperatorMetrics("certificates").registry
    metrics = CertificateMetrics(registry)
    for name in ("c1-api", "c1-etcd"):
        labels = ("ns", name, "c1", name.removeprefix("c1-"))
        metrics.expiry.labels(*labels).set(1.0)
        metrics.renewal.labels(*labels).set(1.0)
        metrics.issued.labels(*labels).inc()
        metrics.issue_errors.labels(*labels, "VaultDown").inc()
        metrics.issue_errors.labels(*labels, "Conflict").inc()
    metrics.forget("ns", "c1-api", "c1", "api")
    left = {
        (family.name, sample.labels.get("name"))
        for family in registry.collect()
        for sample in family.samples
        if "name" in sample.labels
    }
    assert {name for _, name in left} == {"c1-etcd"}
    assert len(left) == 4  # expiry, renewal, issuances, errors of c1-etcd
