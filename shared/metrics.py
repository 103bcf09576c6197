"""Prometheus metrics of one operator, on a registry of its own.

Reconciliations, their duration and their errors, by kind and step, so a
dashboard can tell which step of which kind is slow or failing. Operators add
their own metrics to the same registry.
"""

from dataclasses import dataclass, field

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    start_http_server,
)

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


@dataclass
class OperatorMetrics:
    operator: str
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        labels = ("kind", "step")
        self.reconciliations = Counter(
            "g8s_reconciliations_total",
            "Reconciliation steps run, by outcome (ok, retry, invalid, error).",
            (*labels, "result"),
            registry=self.registry,
        )
        self.duration = Histogram(
            "g8s_reconcile_duration_seconds",
            "Time spent in a reconciliation step.",
            labels,
            registry=self.registry,
            buckets=_BUCKETS,
        )
        self.errors = Counter(
            "g8s_reconcile_errors_total",
            "Reconciliation steps that failed, by condition reason.",
            (*labels, "reason"),
            registry=self.registry,
        )

        self.api_requests = Counter(
            "g8s_api_requests_total",
            "Requests the operator's client sent to the host API server"
            " (kopf's watches and patches not counted), by verb and kind.",
            ("request",),
            registry=self.registry,
        )
        self.api_throttled = Counter(
            "g8s_api_throttled_seconds_total",
            "Seconds those requests waited for the request limit (G8S_API_QPS, G8S_API_BURST).",
            registry=self.registry,
        )

    def api_request(self, waited: float, what: str = "") -> None:
        """Count one request to the host API server (``what``: "GET Secret"), and what
        it waited."""
        self.api_requests.labels(what or "other").inc()
        if waited:
            self.api_throttled.inc(waited)

    def serve(self, port: int, address: str) -> None:
        """Expose ``/metrics`` on ``address:port`` from a daemon thread.

        Without the ``_created`` series the Prometheus client adds beside
        every counter: in the classic text format each becomes a series of
        its own, as many again as the per-Certificate counters (15,000 at
        1,000 clusters), and nobody here reads them.
        """
        disable_created_metrics()  # type: ignore[no-untyped-call]
        start_http_server(port, addr=address, registry=self.registry)
