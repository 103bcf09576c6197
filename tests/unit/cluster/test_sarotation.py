"""operators/cluster/sarotation.py: which step to ask for, and what the guest must show first."""

from datetime import UTC, datetime, timedelta

from operators.cluster import sarotation as rot
from shared.api import serviceaccount as sa

T0 = datetime(2026, 12, 5, 18, 0, tzinfo=UTC)
GRACE = timedelta(hours=1)


def step(name: str, request: str = "r1") -> sa.Step:
    return sa.Step(name, request)


def move(asked: sa.Step | None, reached: sa.Step | None, request: str = "r1") -> rot.Move:
    return rot.next_move(request, asked, reached, T0, grace=GRACE)


def test_no_request_or_an_answered_one_is_idle() -> None:
    assert move(None, None, request="") == rot.IDLE
    assert move(step(sa.DONE), step(sa.DONE)) == rot.IDLE


def test_a_request_walks_the_steps_checking_the_guest_between_them() -> None:
    assert move(None, None) == rot.Move(step(sa.ADDED))
    assert move(step(sa.ADDED), step(sa.ADDED)) == rot.Move(step(sa.SWITCHED), rot.Check.TRUSTED)
    assert move(step(sa.SWITCHED), step(sa.SWITCHED)) == rot.Move(
        step(sa.REMOVED), rot.Check.SIGNING, not_before=T0 + GRACE
    )
    assert move(step(sa.REMOVED), step(sa.REMOVED)) == rot.Move(step(sa.DONE), rot.Check.TRUSTED)


def test_a_step_asked_and_not_reached_waits_for_the_certificates_operator() -> None:
    waiting = move(step(sa.ADDED), None)
    assert waiting.ask is None
    assert "add the new key" in waiting.waiting
    waiting = move(step(sa.SWITCHED), step(sa.ADDED))
    assert waiting.ask is None
    assert "Switched" in waiting.waiting


def test_a_new_request_starts_again_whatever_the_last_one_reached() -> None:
    assert move(step(sa.SWITCHED, "r1"), step(sa.SWITCHED, "r1"), request="r2") == rot.Move(
        step(sa.ADDED, "r2")
    )
    assert move(step(sa.DONE, "r1"), step(sa.DONE, "r1"), request="r2") == rot.Move(
        step(sa.ADDED, "r2")
    )


def test_what_an_api_server_shows_is_compared_with_the_secret() -> None:
    trusted = ["new", "old"]
    assert rot.shows(rot.Check.TRUSTED, trusted=trusted, signing="new", jwks={"old", "new"}, kid="")
    assert not rot.shows(rot.Check.TRUSTED, trusted=trusted, signing="new", jwks={"old"}, kid="")
    assert not rot.shows(
        rot.Check.TRUSTED, trusted=["new"], signing="new", jwks={"old", "new"}, kid="new"
    )
    assert rot.shows(
        rot.Check.SIGNING, trusted=trusted, signing="new", jwks={"old", "new"}, kid="new"
    )
    assert not rot.shows(
        rot.Check.SIGNING, trusted=trusted, signing="new", jwks={"old", "new"}, kid="old"
    )
    assert rot.shows(rot.Check.NONE, trusted=[], signing="", jwks=set(), kid="")
