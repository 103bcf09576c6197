"""Metrics of the certificates operator, on the operator's own registry.

Per certificate: expiry and renewal timestamps; issuance count, errors and
duration; and whether Vault answers.
"""

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LABELS = ("namespace", "name", "cluster", "component")


class CertificateMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.expiry = Gauge(
            "g8s_certificate_expiry_timestamp_seconds",
            "NotAfter of the certificate in the Secret, as a Unix time.",
            _LABELS,
            registry=registry,
        )
        self.renewal = Gauge(
            "g8s_certificate_renewal_timestamp_seconds",
            "When the certificate is due for renewal, as a Unix time.",
            _LABELS,
            registry=registry,
        )
        self.issued = Counter(
            "g8s_certificate_issuances_total",
            "Certificates (or key pairs) issued, by certificate.",
            _LABELS,
            registry=registry,
        )
        self.issue_errors = Counter(
            "g8s_certificate_issuance_errors_total",
            "Failed issuances, by certificate and reason.",
            (*_LABELS, "reason"),
            registry=registry,
        )
        self.issue_duration = Histogram(
            "g8s_certificate_issuance_duration_seconds",
            "Time to make a key, have Vault sign the CSR and write the Secret.",
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.vault_up = Gauge(
            "g8s_vault_up",
            "1 when the last Vault request got an answer, else 0.",
            registry=registry,
        )

    def forget(self, namespace: str, name: str, cluster: str, component: str) -> None:
        """Drop every per-certificate series of a deleted Certificate: kept, the
        series of 1,000 deleted clusters' 15,000 Certificates would stay in the
        process and on every scrape."""
        labels = (namespace, name, cluster, component)
        for metric in (self.expiry, self.renewal, self.issued):
            with contextlib.suppress(KeyError):
                metric.remove(*labels)
        reasons = {
            sample.labels["reason"]
            for family in self.issue_errors.collect()
            for sample in family.samples
            if tuple(sample.labels.get(label) for label in _LABELS) == labels
        }
        for reason in reasons:
            with contextlib.suppress(KeyError):
                self.issue_errors.remove(*labels, reason)
