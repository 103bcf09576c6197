"""The e2e rotation tests' reading of `g8s rotate ca`'s progress and the client's failures."""

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
