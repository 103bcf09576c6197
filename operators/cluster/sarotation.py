"""Service-account key rotation for a guest cluster: the cluster operator's next move.

Asked for with the Cluster annotation ``g8s.io/rotate-service-account`` (each
new value asks once). The certificates operator makes each step on the key
pair's Secret when the key pair's Certificate asks for it; this module says,
from what the Secret has reached, which step to ask for next and what the
guest must show first (shared/api/serviceaccount.py has the steps):

- nothing reached for this request: ask for ``Added``;
- ``Added``: once every guest API server trusts the keys the Secret trusts
  (its JWKS lists exactly their ids), ask for ``Switched``;
- ``Switched``: once every API server signs with the new key (a new token's
  ``kid``) and ``grace`` has passed since the switch, so that the pods'
  tokens were renewed with the new key, ask for ``Removed``;
- ``Removed``: once every API server trusts only the new key, ask for ``Done``.

Asked and not yet reached: wait for the certificates operator.
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from shared.api import serviceaccount as sa

REQUEST_ANNOTATION = "g8s.io/rotate-service-account"


class Check(Enum):
    NONE = "none"
    TRUSTED = "trusted"  # the JWKS lists exactly the Secret's trusted ids
    SIGNING = "signing"  # ... and new tokens carry the signing key's id


@dataclass(frozen=True)
class Move:
    """What to do now: ask for ``ask`` once ``check`` holds (and not before ``not_before``)."""

    ask: sa.Step | None
    check: Check = Check.NONE
    not_before: datetime | None = None
    waiting: str = ""


IDLE = Move(None)


def next_move(
    request: str,
    asked: sa.Step | None,
    reached: sa.Step | None,
    reached_at: datetime | None,
    *,
    grace: timedelta,
) -> Move:
    """The next move of the rotation ``request`` asks for."""
    if not request or reached == sa.Step(sa.DONE, request):
        return IDLE
    if reached is None or reached.request != request:
        if asked == sa.Step(sa.ADDED, request):
            return Move(None, waiting="the certificates operator to add the new key")
        return Move(sa.Step(sa.ADDED, request))
    if asked is not None and asked != reached and asked.request == request:
        return Move(None, waiting=f"the certificates operator to reach {asked.name}")
    after, check = FOLLOWING[reached.name]
    late = reached_at + grace if reached_at is not None and check is Check.SIGNING else None
    return Move(sa.Step(after, request), check, not_before=late)


# Reached step -> the step to ask for next, and what the guest must show first.
FOLLOWING = {
    sa.ADDED: (sa.SWITCHED, Check.TRUSTED),
    sa.SWITCHED: (sa.REMOVED, Check.SIGNING),
    sa.REMOVED: (sa.DONE, Check.TRUSTED),
}


def shows(
    check: Check, *, trusted: Collection[str], signing: str, jwks: set[str], kid: str
) -> bool:
    """Whether one API server's answers show ``check``: its JWKS lists exactly the
    ``trusted`` key ids, and (``SIGNING``) a token it just made names ``signing``."""
    if check is Check.NONE:
        return True
    if jwks != set(trusted):
        return False
    return check is Check.TRUSTED or kid == signing
