"""Error translation: conflicts retry soon, invalid specs never, the rest with backoff."""

import pytest

from shared.errors import ApiError, InvalidSpec, Retry, backoff, translate


def _translate(exc: BaseException, attempt: int = 0) -> tuple[bool, float, str]:
    verdict = translate(exc, attempt=attempt, base=2.0, ceiling=60.0)
    return verdict.retry, verdict.delay, verdict.reason


def test_conflict_retries_after_the_base_delay() -> None:
    assert _translate(ApiError(409, "Conflict", "the object has been modified"), attempt=7) == (
        True,
        2.0,
        "Conflict",
    )


def test_invalid_spec_is_not_retried_and_keeps_its_message() -> None:
    verdict = translate(
        InvalidSpec("spec.ttl", "exceeds the CA's 8760h"), attempt=0, base=1, ceiling=9
    )
    assert not verdict.retry
    assert verdict.reason == "InvalidSpec"
    assert verdict.message == "spec.ttl: exceeds the CA's 8760h"


def test_unprocessable_object_is_not_retried() -> None:
    assert _translate(ApiError(422, "Invalid", "spec.replicas: bad"))[0] is False


def test_retry_with_own_delay_and_reason() -> None:
    assert _translate(Retry("VaultUnavailable", "sealed", delay=7)) == (True, 7, "VaultUnavailable")


@pytest.mark.parametrize(
    ("attempt", "delay"), [(0, 2.0), (1, 4.0), (3, 16.0), (10, 60.0), (500, 60.0)]
)
def test_unexpected_errors_back_off_exponentially(attempt: int, delay: float) -> None:
    assert _translate(RuntimeError("boom"), attempt) == (True, delay, "ReconcileError")


def test_backoff_never_negative_attempts() -> None:
    assert backoff(-3, 1.0, 10.0) == 1.0
