"""Pure: what a reconciliation of a Certificate observed -> its status.

Fields: ``notBefore``, ``notAfter``, ``renewalTime``, ``serialNumber``,
``revision``, ``caRotation`` (the CA rotation phase the Secret was delivered
under), and the failure record ``failedAttempts``, ``lastFailureTime``
and ``nextAttemptTime`` (when the backoff ends).
Conditions: ``Issuing`` here; ``Ready`` here on success, from the kit's failure
report otherwise.
"""

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from operators.certificates import policies
from operators.certificates.model import CertificateSpec
from shared.api import conditions as c
from shared.conditions import Observation, timestamp
from shared.status import Report
from shared.steps import Outcome

PHASE_ISSUED = "Issued"
PHASE_PENDING = "Pending"
PHASE_RENEWING = "Renewing"
REASON_ISSUED = "Issued"
REASON_UP_TO_DATE = "UpToDate"


def certificate_fields(spec: CertificateSpec, state: policies.Current | None) -> dict[str, Any]:
    if state is None:
        return {}
    result: dict[str, Any] = {"revision": state.revision}
    if state.not_before is not None and state.not_after is not None:
        renewal = policies.next_action_time(spec, state.not_before, state.not_after)
        result |= {
            "notBefore": timestamp(state.not_before),
            "notAfter": timestamp(state.not_after),
            "renewalTime": timestamp(renewal),
            "serialNumber": state.serial_number,
        }
    return result


def report(
    spec: CertificateSpec,
    *,
    state: policies.Current | None,
    decision: policies.Decision | None,
    outcome: Outcome,
    previous: Mapping[str, Any],
    now: datetime,
    ca_rotation: str = "",
) -> Report:
    fields = certificate_fields(spec, state)
    verdict = outcome.verdict
    if verdict is None:
        fields |= {"failedAttempts": 0, "lastFailureTime": None, "nextAttemptTime": None}
        if ca_rotation:
            # The phase this run made true, and delivered in the Secret.
            fields["caRotation"] = ca_rotation
        what = "key pair" if spec.profile.key_pair_only else "certificate"
        if "notAfter" in fields and spec.lifetime_end is not None:
            message = (
                f"{what} valid until {fields['notAfter']}, never renewed; the Certificate "
                f"and its Secret are deleted at {fields['renewalTime']}"
            )
        elif "notAfter" in fields:
            message = f"{what} valid until {fields['notAfter']}, renewal at {fields['renewalTime']}"
        else:
            message = f"{what} in Secret {spec.secret_name}"
        reason = REASON_ISSUED if decision is not None else REASON_UP_TO_DATE
        issuing = Observation.false(
            c.ISSUING,
            reason,
            f"issued: {decision.message}" if decision is not None else "nothing to issue",
        )
        ready = Observation.true(c.READY, reason, message)
        return Report(phase=PHASE_ISSUED, observations=(ready, issuing), fields=fields)

    fields |= {
        "failedAttempts": int(previous.get("failedAttempts") or 0) + 1,
        "lastFailureTime": timestamp(now),
        "nextAttemptTime": timestamp(now + timedelta(seconds=verdict.delay))
        if verdict.retry
        else None,
    }
    if decision is not None:
        issuing = Observation.true(
            c.ISSUING, decision.reason, f"{decision.message}; failed: {verdict.message}"
        )
    else:
        issuing = Observation.unknown(
            c.ISSUING, verdict.reason, f"step {outcome.failed_step}: {verdict.message}"
        )
    if state is None or (state.not_after is None and not spec.profile.key_pair_only):
        phase = PHASE_PENDING
    else:
        phase = PHASE_RENEWING if decision is not None else PHASE_ISSUED
    # Ready is left to the kit: False with the failing step's reason (VaultUnavailable...).
    return Report(phase=phase, observations=(issuing,), fields=fields)
