"""Error translation: conflicts retry soon, invalid specs never, the rest with backoff."""

import pytest

from shared.errors import ApiError, InvalidSpec, Retry, backoff, translate
from shared.vault import UNAVAILABLE_CEILING, VaultUnavailable


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


def test_a_write_refused_in_a_namespace_being_deleted_is_not_retried() -> None:
    refused = ApiError(
        403,
        "Forbidden",
        'secrets "c1-ca" is forbidden: unable to create new content in namespace ns1'
        " because it is being terminated",
    )
    verdict = translate(refused, attempt=3, base=1, ceiling=9)
    assert (verdict.retry, verdict.reason) == (False, "NamespaceTerminating")
    assert "being terminated" in verdict.message
    # Any other refusal (RBAC, admission) still retries with backoff.
    other = ApiError(403, "Forbidden", 'secrets is forbidden: User "x" cannot create')
    assert _translate(other, attempt=1) == (True, 4.0, "ApiError403")


def test_retry_with_own_delay_and_reason() -> None:
    assert _translate(Retry("VaultUnavailable", "sealed", delay=7)) == (True, 7, "VaultUnavailable")


@pytest.mark.parametrize(
    ("attempt", "delay"), [(0, 2.0), (1, 4.0), (3, 16.0), (10, 60.0), (500, 60.0)]
)
def test_unexpected_errors_back_off_exponentially(attempt: int, delay: float) -> None:
    assert _translate(RuntimeError("boom"), attempt) == (True, delay, "ReconcileError")


def test_a_retry_with_a_ceiling_backs_off_no_further() -> None:
    capped = Retry("VaultUnavailable", "sealed", ceiling=8.0)
    assert [_translate(capped, attempt)[1] for attempt in (0, 1, 2, 9)] == [2.0, 4.0, 8.0, 8.0]


def test_a_wait_for_another_operator_looks_again_soon_then_further_apart() -> None:
    waiting = Retry("NetworkNotReady", "no subnet yet", base=0.5, ceiling=10.0)
    delays = [_translate(waiting, attempt)[1] for attempt in range(7)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_a_ceiling_above_the_operators_own_does_not_raise_it() -> None:
    assert _translate(Retry("X", "waiting", ceiling=1000.0), 30)[1] == 60.0


def test_an_unavailable_vault_is_asked_again_within_half_a_minute() -> None:
    # The operators' defaults: 5 s doubling to 300 s.
    verdict = translate(VaultUnavailable("sealed"), attempt=10, base=5.0, ceiling=300.0)
    assert verdict.delay == UNAVAILABLE_CEILING == 30.0


def test_backoff_never_negative_attempts() -> None:
    assert backoff(-3, 1.0, 10.0) == 1.0
