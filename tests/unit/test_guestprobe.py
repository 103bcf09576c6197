"""The e2e rotation tests' reading of `g8s rotate ca`'s progress and the client's failures."""

import base64
import datetime
import json
import socket
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.e2e import guestprobe

PHASES = ("Trusted", "Reissued", "Dropped", "Done")

PROGRESS = """\
asked for a CA rotation for ns/g1 (g8s.io/rotate-ca=20261206-abc)
    0 s  CARotating=True Requested: asked 15 of 15 Certificates for Trusted
   41 s  CARotating=True Trusted: waiting for the guest API: ConnectionRefusedError
  130 s  CARotating=True Trusted: waiting for the certificates operator: 2 Certificates \
behind for Reissued (g1-apiserver, g1-etcd-peer)
  131 s  CARotating=True Trusted: asked 1 of 15 Certificates for Reissued
  250 s  CARotating=True Reissued: asked 15 of 15 Certificates for Dropped
  300 s  CARotating=True Dropped: asked 15 of 15 Certificates for Done
"""


def test_each_phase_is_taken_at_the_first_line_that_asks_for_it() -> None:
    assert guestprobe.phases_asked(PROGRESS, PHASES) == {
        "Trusted": 0.0,
        "Reissued": 130.0,
        "Dropped": 250.0,
        "Done": 300.0,
    }


def test_a_phase_reached_implies_it_and_those_before_it_were_asked() -> None:
    progress = "   41 s  CARotating=True Reissued: waiting for the guest API: timed out\n"
    assert guestprobe.phases_asked(progress, PHASES) == {"Trusted": 41.0, "Reissued": 41.0}


def test_lines_of_no_phase_ask_for_nothing() -> None:
    progress = "asked for a CA rotation\n    3 s  CARotating=True Requested: waiting for x\n"
    assert guestprobe.phases_asked(progress, PHASES) == {}


def test_failures_fall_in_the_phase_asked_last_before_them() -> None:
    asked = guestprobe.phases_asked(PROGRESS, PHASES)
    failed = [-0.5, 40.0, 41.0, 129.9, 130.0, 260.0, 400.0]
    assert guestprobe.failures_by_phase(failed, asked) == [
        ("Trusted", 0.0, 4),
        ("Reissued", 130.0, 1),
        ("Dropped", 250.0, 1),
        ("Done", 300.0, 1),
    ]


def kubeconfig(path: Path, server: str) -> Path:
    """An embedded-data kubeconfig whose CA and client certificate are one self-signed one."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "probe")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    config = {
        "clusters": [{"cluster": {"server": server, "certificate-authority-data": b64(pem)}}],
        "users": [{"user": {"client-certificate-data": b64(pem), "client-key-data": b64(key_pem)}}],
    }
    path.write_text(json.dumps(config))
    return path


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_a_request_that_times_out_counts_when_it_was_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that accepts and never answers: the failure is placed at the moment the
    request was asked, not REQUEST_TIMEOUT later, so it falls in the phase that kept it
    waiting."""
    monkeypatch.setattr(guestprobe, "REQUEST_TIMEOUT", 1.0)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        prober = guestprobe.Prober(kubeconfig(tmp_path / "k.json", f"https://127.0.0.1:{port}"))
        prober.started = time.monotonic() - 100.0
        prober.once()
    assert prober.tally.ok == 0
    [moment] = prober.tally.failed_at
    assert 100.0 <= moment < 100.5
    assert "(after 1 s)" in prober.tally.failures[0]
