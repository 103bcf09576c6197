"""Pure decisions: when to issue, when to renew, what the spec may ask for."""

from dataclasses import replace
from datetime import timedelta

import pytest

from operators.certificates import policies
from operators.certificates.model import CertificateSpec, parse
from shared.errors import InvalidSpec
from tests.unit.certificates.fakes import at, certificate_body

SPEC = parse(certificate_body(ttl="30h", renewBefore="10h"))
CA = "ca-fingerprint"
GOOD = policies.Current(
    spec_hash=policies.spec_hash(SPEC),
    ca_fingerprint=CA,
    key_algorithm="ECDSAP256",
    not_before=at(0),
    not_after=at(30),
    serial_number="01",
    revision=1,
)


def reason(current: policies.Current | None, hours: float = 1) -> str | None:
    decision = policies.issue_reason(SPEC, current, ca_fingerprint=CA, now=at(hours))
    return decision.reason if decision else None


def test_up_to_date() -> None:
    assert reason(GOOD) is None


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        (None, "SecretMissing"),
        (replace(GOOD, key_algorithm=None), "SecretIncomplete"),
        (replace(GOOD, spec_hash="other"), "SpecChanged"),
        (replace(GOOD, key_algorithm="RSA2048"), "SpecChanged"),
        (replace(GOOD, not_after=None), "SecretIncomplete"),
        (replace(GOOD, ca_fingerprint="old-ca"), "IssuerChanged"),
        (replace(GOOD, faults="the Secret's private key does not match"), "SecretTampered"),
    ],
)
def test_reasons(current: policies.Current | None, expected: str) -> None:
    assert reason(current) == expected


def test_renewal_from_not_after_and_renew_before() -> None:
    assert reason(GOOD, 19.9) is None
    assert reason(GOOD, 20) == "RenewalDue"
    assert reason(GOOD, 30) == "Expired"


def test_renewal_time() -> None:
    assert policies.renewal_time(at(0), at(30), 10 * 3600) == at(20)
    assert policies.renewal_time(at(0), at(30), 25 * 3600) == at(5)
    assert policies.renewal_time(at(0), at(30), 3600) == at(29)
    # renewBefore as long as the life: renew at 2/3 of it, not at once.
    assert policies.renewal_time(at(0), at(30), 30 * 3600) == at(20)
    assert policies.renewal_time(at(0), at(30), 100 * 3600) == at(20)


def test_spec_hash_ignores_renew_before_but_not_ttl() -> None:
    same = parse(certificate_body(ttl="30h", renewBefore="5h"))
    longer = parse(certificate_body(ttl="31h", renewBefore="10h"))
    assert policies.spec_hash(same) == policies.spec_hash(SPEC)
    assert policies.spec_hash(longer) != policies.spec_hash(SPEC)


def test_key_pair_needs_no_certificate() -> None:
    spec = parse(certificate_body(component="service-account"))
    current = policies.Current(policies.spec_hash(spec), None, "ECDSAP256")
    assert policies.issue_reason(spec, current, ca_fingerprint="", now=at(99999)) is None


def test_validate_ttl_limit() -> None:
    policies.validate(SPEC, max_ttl_seconds=30 * 3600)
    with pytest.raises(InvalidSpec) as caught:
        policies.validate(SPEC, max_ttl_seconds=29 * 3600)
    assert caught.value.reason == "TTLExceedsLimit"


def test_validate_names_outside_the_cluster() -> None:
    spec = parse(certificate_body(dnsNames=["api.c2.example.org"]))
    with pytest.raises(InvalidSpec) as caught:
        policies.validate(spec, max_ttl_seconds=10**9)
    assert caught.value.reason == "NameOutsideCluster"
    policies.validate(parse(certificate_body(dnsNames=["x.c1.example.org"])), max_ttl_seconds=10**9)
    # The catalogue's own names always pass.
    policies.validate(parse(certificate_body()), max_ttl_seconds=10**9)


def test_seconds_until() -> None:
    assert policies.seconds_until(at(1), at(0)) == 3600
    assert policies.seconds_until(at(0), at(0) + timedelta(seconds=5)) == 0


def _short_lived(**spec: str) -> CertificateSpec:
    body = certificate_body(ttl="10h", onExpiry="Delete", secretName="c1-kubeconfig-abcde", **spec)
    body["metadata"]["creationTimestamp"] = "2030-01-01T00:00:00Z"
    return parse(body)


def test_a_delete_certificate_ends_ttl_after_its_creation() -> None:
    spec = _short_lived()
    assert spec.secret_name == "c1-kubeconfig-abcde"
    assert spec.lifetime_end == at(10)
    assert not policies.lifetime_over(spec, at(9.99))
    assert policies.lifetime_over(spec, at(10))
    # Issued late (its Secret deleted and issued again), it still ends then.
    assert policies.issue_ttl(spec, at(0)) == "36000s"
    assert policies.issue_ttl(spec, at(7)) == "10800s"
    assert policies.issue_ttl(spec, at(10.5)) == "1s"
    # The renewal timer wakes at the end, to delete it.
    assert policies.next_action_time(spec, at(0), at(10)) == at(10)
    assert policies.issue_ttl(SPEC, at(7)) == SPEC.ttl


def test_a_delete_certificate_is_never_renewed_nor_issued_after_its_end() -> None:
    spec = _short_lived()
    current = replace(GOOD, spec_hash=policies.spec_hash(spec), not_after=at(10))
    for hours in (9.5, 11):
        assert policies.issue_reason(spec, current, ca_fingerprint=CA, now=at(hours)) is None
    # A missing Secret is issued again while its life lasts, not after.
    assert policies.issue_reason(spec, None, ca_fingerprint=CA, now=at(5)) is not None
    assert policies.issue_reason(spec, None, ca_fingerprint=CA, now=at(10)) is None
    # Tampering is still repaired.
    tampered = replace(current, faults="key does not match")
    decision = policies.issue_reason(spec, tampered, ca_fingerprint=CA, now=at(5))
    assert decision is not None
    assert decision.reason == "SecretTampered"


def test_on_expiry_is_renew_or_delete() -> None:
    assert parse(certificate_body()).on_expiry == "Renew"
    assert parse(certificate_body()).lifetime_end is None
    with pytest.raises(InvalidSpec, match=r"spec\.onExpiry"):
        parse(certificate_body(onExpiry="Keep"))
