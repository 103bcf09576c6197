"""Each operator's own API requests while clusters are built, from its metrics endpoint.

The API server's request counter has no client label, so what each operator
sends is read from the operator: ``g8s_api_requests_total`` and
``g8s_api_throttled_seconds_total`` (shared/metrics.py), sampled every
second. The busiest second is what the request limit (``G8S_API_QPS``,
``G8S_API_BURST``) must leave alone; docs/operations.md#concurrency-settings
chose the defaults from these figures.

Only those two families are asked for (``name[]``, which the Prometheus
client's endpoint understands): the certificates operator's whole page has
four series per Certificate, 8.5 MB at 1,000 clusters, and took it 2.5 s
to write. Read whole each second, it kept that operator writing metrics
all the time and the benchmark's own process parsing them.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

REQUESTS = "g8s_api_requests"
THROTTLED = "g8s_api_throttled_seconds"
INTERVAL = 1.0
QUERY = urllib.parse.urlencode([("name[]", f"{name}_total") for name in (REQUESTS, THROTTLED)])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def read(port: int) -> tuple[float, float]:
    """(requests, seconds throttled) so far, from the operator on ``port``."""
    requests, throttled = read_all(port)
    return sum(requests.values()), throttled


def read_all(port: int) -> tuple[dict[str, float], float]:
    """Requests so far by what they are ("GET Secret"), and seconds throttled."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics?{QUERY}", timeout=5) as answer:
        text = answer.read().decode()
    requests: dict[str, float] = {}
    throttled = 0.0
    for family in text_string_to_metric_families(text):
        totals = [s for s in family.samples if s.name.endswith("_total")]
        if family.name == REQUESTS:
            for sample in totals:
                what = sample.labels.get("request", "other")
                requests[what] = requests.get(what, 0.0) + sample.value
        elif family.name == THROTTLED:
            throttled = sum(s.value for s in totals)
    return requests, throttled


@dataclass
class Rates:
    """Per operator: requests, the busiest second, seconds throttled."""

    requests: dict[str, float] = field(default_factory=dict)
    peak: dict[str, float] = field(default_factory=dict)
    throttled: dict[str, float] = field(default_factory=dict)
    # Per operator: requests by what they are ("GET Secret").
    kinds: dict[str, dict[str, float]] = field(default_factory=dict)

    def lines(self, count: int, top: int = 6) -> list[str]:
        """Per operator, busiest first: its requests per cluster, then its ``top`` kinds."""
        out: list[str] = []
        for name, total in sorted(self.requests.items(), key=lambda kv: -kv[1]):
            out.append(
                f"    {name:<14} {total:9.0f} {total / count:9.1f} per cluster;"
                f" busiest second {self.peak.get(name, 0.0):6.0f}/s;"
                f" throttled {self.throttled.get(name, 0.0):.1f} s"
            )
            kinds = sorted((self.kinds.get(name) or {}).items(), key=lambda kv: -kv[1])
            out.extend(
                f"      {what:<32} {value / count:7.1f} per cluster"
                for what, value in kinds[:top]
                if value
            )
        return out


@contextlib.contextmanager
def sampling(ports: Mapping[str, int]) -> Iterator[Rates]:
    """Sample every operator each second until the block ends; the rates fill in then."""
    rates = Rates()
    before = {name: read_all(port) for name, port in ports.items()}
    first = {name: (sum(kinds.values()), throttled) for name, (kinds, throttled) in before.items()}
    last = dict(first)
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(INTERVAL):
            for name, port in ports.items():
                with contextlib.suppress(OSError):
                    now = read(port)
                    step = now[0] - last[name][0]
                    rates.peak[name] = max(rates.peak.get(name, 0.0), step / INTERVAL)
                    last[name] = now

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield rates
    finally:
        stop.set()
        thread.join()
        for name, port in ports.items():
            kinds, throttled = read_all(port)
            rates.requests[name] = sum(kinds.values()) - first[name][0]
            rates.throttled[name] = throttled - first[name][1]
            earlier = before[name][0]
            rates.kinds[name] = {k: v - earlier.get(k, 0.0) for k, v in kinds.items()}
