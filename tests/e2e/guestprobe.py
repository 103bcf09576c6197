"""A client that asks a guest API server one request a second, on a fresh TLS connection each.

It counts what succeeded and what failed, and records the serial of the
serving certificate each connection was given, so a test can tell when a
renewed certificate was taken up and whether any request failed meanwhile.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import ssl
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from cryptography import x509

# Long enough for an emulated guest under load; a request still waiting then is a failure.
REQUEST_TIMEOUT = 30.0
PATH = "/api/v1/namespaces/default"


@dataclass
class Tally:
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    # (seconds since the start, serving certificate serial) of every connection.
    serials: list[tuple[float, int]] = field(default_factory=list)
    # Seconds since the start at which each failed request was asked, in order: a
    # request that waited out REQUEST_TIMEOUT counts where it began, in the phase
    # whose restart kept it waiting, not in the phase when it gave up.
    failed_at: list[float] = field(default_factory=list)

    def last_serial(self) -> int | None:
        return self.serials[-1][1] if self.serials else None

    def outages(self, gap: float = 10.0) -> list[tuple[float, float, int]]:
        """Runs of failures, (first, last, how many), split where no failure came for
        ``gap`` seconds: each is one restart or one window a client could not get in."""
        runs: list[tuple[float, float, int]] = []
        for moment in self.failed_at:
            if runs and moment - runs[-1][1] <= gap:
                first, _, count = runs[-1]
                runs[-1] = (first, moment, count + 1)
            else:
                runs.append((moment, moment, 1))
        return runs


# A progress line of `g8s rotate ca`: "  312 s  CARotating=True <reached>: <message>",
# where the message names the phase asked for ("asked 15 of 15 Certificates for
# Reissued", "waiting for the certificates operator: 3 Certificates behind for
# Reissued ...").
_PROGRESS = re.compile(r"^\s*(\d+) s\s+CARotating=\w+ (\w+): (.*)$")
_ASKED = re.compile(r"\bCertificates [\w ]*?for (\w+)\b")


def phases_asked(progress: str, phases: Sequence[str]) -> dict[str, float]:
    """The seconds since the request at which `g8s rotate ca`'s progress (its stderr)
    first shows each of ``phases`` (in order) asked for: named in a line's message, or
    implied by a phase reached. A phase asked and reached between two of the command's
    looks is not shown: its failures count in the phase before it."""
    asked: dict[str, float] = {}
    for line in progress.splitlines():
        found = _PROGRESS.match(line)
        if not found:
            continue
        moment, reached, message = float(found[1]), found[2], found[3]
        named = _ASKED.search(message)
        latest = max(
            (phases.index(p) for p in (reached, named[1] if named else "") if p in phases),
            default=-1,
        )
        for phase in phases[: latest + 1]:
            asked.setdefault(phase, moment)
    return asked


def failures_by_phase(
    failed_at: list[float], asked: dict[str, float]
) -> list[tuple[str, float, int]]:
    """(phase, the second it was asked, failures from then until the next phase was
    asked) for each phase in ``asked``, the failures before the first one counted in
    it. The moments are the progress's, which counts from the request a moment after
    the client's start: a failure near a boundary falls in the later phase."""
    order = sorted(asked.items(), key=lambda item: item[1])
    counts = []
    for i, (phase, moment) in enumerate(order):
        end = order[i + 1][1] if i + 1 < len(order) else float("inf")
        start = moment if i else float("-inf")
        counts.append((phase, moment, sum(1 for t in failed_at if start <= t < end)))
    return counts


def context_from_kubeconfig(path: Path) -> tuple[str, ssl.SSLContext]:
    """The server and a TLS context (CA, client certificate) of an embedded-data kubeconfig."""
    config = json.loads(path.read_text())
    cluster = config["clusters"][0]["cluster"]
    user = config["users"][0]["user"]
    context = ssl.create_default_context(
        cadata=base64.b64decode(cluster["certificate-authority-data"]).decode()
    )
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = Path(tmp) / "tls.crt", Path(tmp) / "tls.key"
        cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
        key.touch(mode=0o600)
        key.write_bytes(base64.b64decode(user["client-key-data"]))
        context.load_cert_chain(cert, key)
    return str(cluster["server"]), context


class Prober:
    """Use as a context manager: it asks from entry to exit, in a thread of its own."""

    def __init__(self, kubeconfig: Path, interval: float = 1.0, *, follow: bool = False) -> None:
        self.kubeconfig = kubeconfig
        self.server, self.context = context_from_kubeconfig(kubeconfig)
        # follow: take up a rewritten kubeconfig (a CA rotation's new trust and
        # client certificate), as a client that reloads its credentials would.
        self.follow = follow
        self._seen = kubeconfig.stat().st_mtime_ns
        self.interval = interval
        self.tally = Tally()
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def once(self) -> None:
        if self.follow:
            self._reload()
        asked = time.monotonic() - self.started
        url = urlsplit(self.server)
        assert url.hostname is not None
        conn = http.client.HTTPSConnection(
            url.hostname, url.port or 443, context=self.context, timeout=REQUEST_TIMEOUT
        )
        try:
            conn.connect()
            assert conn.sock is not None
            der = conn.sock.getpeercert(binary_form=True)
            assert der is not None
            serial = x509.load_der_x509_certificate(der).serial_number
            self.tally.serials.append((time.monotonic() - self.started, serial))
            conn.request("GET", PATH)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {body[:200]!r}")
            self.tally.ok += 1
        except Exception as exc:  # every kind of failure is counted
            waited = time.monotonic() - self.started - asked
            self.tally.failed_at.append(asked)
            self.tally.failures.append(
                f"{asked:.0f} s (after {waited:.0f} s): {type(exc).__name__}: {exc}"
            )
        finally:
            conn.close()

    def _reload(self) -> None:
        seen = self.kubeconfig.stat().st_mtime_ns
        if seen == self._seen:
            return
        try:
            self.server, self.context = context_from_kubeconfig(self.kubeconfig)
        except (ValueError, KeyError, OSError):
            return  # caught while being rewritten: the next look reads it whole
        self._seen = seen

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.once()
            self._stop.wait(self.interval)

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=REQUEST_TIMEOUT + 5)
