"""Error translation: what a failure means for the object and for retrying.

Steps raise the exceptions below (or let adapter errors through); ``translate``
turns any exception into a ``Verdict`` without side effects, so the policy is
testable on its own: an API conflict retries after a short delay, an invalid
spec is never retried (the user must change it) and becomes ``Ready=False``
with a reason and message, anything else retries with exponential backoff.
"""

from dataclasses import dataclass

from shared.api import conditions as c

HTTP_FORBIDDEN = 403
HTTP_CONFLICT = 409
HTTP_UNPROCESSABLE = 422
HTTP_TOO_MANY_REQUESTS = 429


class InvalidSpec(ValueError):  # noqa: N818 - named after the condition reason
    """The object asks for something that cannot be done; retrying will not help."""

    def __init__(self, field: str, message: str, reason: str = c.REASON_INVALID_SPEC) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = reason


class Retry(Exception):  # noqa: N818 - a verb, like kopf.TemporaryError's meaning
    """A step cannot finish yet (a dependency is not ready); try again later.

    Without ``delay`` the retry backs off exponentially from ``base`` (else
    the operator's retry delay), up to ``ceiling`` when given (else the
    operator's longest delay). A short ``base`` suits a wait for something
    another operator is about to make: the first looks come soon, later ones
    further apart.
    """

    def __init__(
        self,
        reason: str,
        message: str,
        delay: float | None = None,
        ceiling: float | None = None,
        base: float | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.delay = delay
        self.ceiling = ceiling
        self.base = base


class ApiError(Exception):
    """A Kubernetes API error, as the kube adapter reports it."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Verdict:
    """What to do after a failure."""

    retry: bool
    delay: float
    reason: str
    message: str


def backoff(attempt: int, base: float, ceiling: float) -> float:
    """Exponential backoff: base, 2*base, 4*base, ... capped at ceiling."""
    return float(min(ceiling, base * (2 ** max(0, min(attempt, 30)))))


def translate(exc: BaseException, *, attempt: int, base: float, ceiling: float) -> Verdict:
    if isinstance(exc, InvalidSpec):
        return Verdict(retry=False, delay=0.0, reason=exc.reason, message=str(exc))
    if isinstance(exc, Retry):
        if exc.delay is not None:
            delay = exc.delay
        else:
            top = ceiling if exc.ceiling is None else min(ceiling, exc.ceiling)
            delay = backoff(attempt, base if exc.base is None else exc.base, top)
        return Verdict(retry=True, delay=delay, reason=exc.reason, message=str(exc))
    if isinstance(exc, ApiError):
        return _api_error(exc, attempt=attempt, base=base, ceiling=ceiling)
    delay = backoff(attempt, base, ceiling)
    return Verdict(True, delay, c.REASON_RECONCILE_ERROR, f"{type(exc).__name__}: {exc}")


def _api_error(exc: ApiError, *, attempt: int, base: float, ceiling: float) -> Verdict:
    if namespace_terminating(exc):
        # Nothing but the deletion can follow: a retry would be refused the
        # same way (at 1,000 clusters a restarted certificates operator kept
        # retrying such writes while the deletion waited for its releases).
        return Verdict(False, 0.0, c.REASON_NAMESPACE_TERMINATING, exc.message)
    if exc.status == HTTP_CONFLICT:
        return Verdict(True, base, "Conflict", f"conflicting write, retrying: {exc.message}")
    if exc.status == HTTP_UNPROCESSABLE:
        # The API server refused an object we built from the spec: retrying
        # the same spec gives the same answer.
        return Verdict(False, 0.0, c.REASON_INVALID_SPEC, exc.message)
    delay = backoff(attempt, base, ceiling)
    return Verdict(True, delay, f"ApiError{exc.status}", exc.message)


# The API server's words when it refuses to create anything in a namespace
# being deleted (its Status also names the cause NamespaceTerminating, which
# the adapter does not pass on).
TERMINATING = "because it is being terminated"


def namespace_terminating(exc: ApiError) -> bool:
    """Whether the API server refused a write because the namespace is being deleted."""
    return exc.status == HTTP_FORBIDDEN and TERMINATING in exc.message
