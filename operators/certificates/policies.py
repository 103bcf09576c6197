"""Pure decisions of the certificates operator.

Each policy returns a reason (a CamelCase word and a message) or None; the
first that fires decides, the cert-manager way.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from operators.certificates.model import DELETE, CertificateSpec
from shared.api import certificates as catalogue
from shared.errors import InvalidSpec

REASON_MISSING = "SecretMissing"
REASON_INCOMPLETE = "SecretIncomplete"
REASON_SPEC_CHANGED = "SpecChanged"
REASON_ISSUER_CHANGED = "IssuerChanged"
REASON_RENEWAL_DUE = "RenewalDue"
REASON_TAMPERED = "SecretTampered"
REASON_EXPIRED = "Expired"
REASON_TTL_TOO_LONG = "TTLExceedsLimit"
REASON_NAME_OUTSIDE_CLUSTER = "NameOutsideCluster"
REASON_SECRET_TAKEN = "SecretTaken"  # noqa: S105 - a reason, not a secret


@dataclass(frozen=True)
class Decision:
    reason: str
    message: str


@dataclass(frozen=True)
class Current:
    """What the certificate's Secret holds now (None fields: absent or unreadable)."""

    spec_hash: str | None
    # The CA that signed the certificate (of those its ca.crt holds).
    ca_fingerprint: str | None
    key_algorithm: str | None
    not_before: datetime | None = None
    not_after: datetime | None = None
    serial_number: str | None = None
    revision: int = 0
    certificate_pem: str | None = None
    # Why key, certificate and CA do not belong together ("" when they do).
    faults: str = ""
    # The whole ca.crt: every CA its consumers trust (two while the CA is rotated).
    trusted: str | None = None


def spec_hash(spec: CertificateSpec) -> str:
    """A digest of what the issued certificate must carry (not of renewBefore)."""
    profile = spec.profile
    essence = {
        "cn": profile.common_name,
        "o": profile.organizations,
        "dns": profile.dns_names,
        "ip": profile.ip_addresses,
        "ku": profile.key_usages,
        "eku": profile.ext_key_usages,
        "ttl": spec.ttl_seconds,
        "key": spec.key_algorithm,
    }
    return hashlib.sha256(json.dumps(essence, sort_keys=True).encode()).hexdigest()[:16]


def validate(spec: CertificateSpec, *, max_ttl_seconds: int) -> None:
    """Raise InvalidSpec for what Vault would silently cut or refuse."""
    if not spec.profile.key_pair_only and spec.ttl_seconds > max_ttl_seconds:
        raise InvalidSpec(
            "spec.ttl",
            f"{spec.ttl} exceeds the limit of {max_ttl_seconds // 3600}h set for this "
            "operator's CAs; ask for a shorter TTL",
            reason=REASON_TTL_TOO_LONG,
        )
    if not spec.base_domain:
        # Without the cluster's domain the names cannot be checked; the
        # cluster's own mount still keeps them away from other clusters' CAs.
        return
    info = spec.cluster_info
    for name in spec.profile.dns_names:
        if not catalogue.within_cluster(name, info):
            raise InvalidSpec(
                "spec.dnsNames",
                f"{name!r} is not a name of cluster {spec.cluster} (domain {spec.base_domain})",
                reason=REASON_NAME_OUTSIDE_CLUSTER,
            )


def renewal_time(not_before: datetime, not_after: datetime, renew_before_seconds: int) -> datetime:
    """When to renew: ``renewBefore`` ahead of NotAfter.

    A ``renewBefore`` at least as long as the certificate's life would renew at
    once, forever; then renew at 2/3 of the life instead (as cert-manager does).
    """
    life = not_after - not_before
    ahead = timedelta(seconds=renew_before_seconds)
    if ahead >= life:
        ahead = life / 3
    return not_after - ahead


def lifetime_over(spec: CertificateSpec, now: datetime) -> bool:
    """An ``onExpiry: Delete`` Certificate whose ttl since its creation has passed."""
    end = spec.lifetime_end
    return end is not None and now >= end


def issue_ttl(spec: CertificateSpec, now: datetime) -> str:
    """The TTL to ask Vault for: the spec's, cut to what is left of a Delete
    Certificate's life, so that no certificate issued for it outlives it."""
    end = spec.lifetime_end
    if end is None:
        return spec.ttl
    left = int((end - now).total_seconds())
    return f"{max(1, min(spec.ttl_seconds, left))}s"


def next_action_time(spec: CertificateSpec, not_before: datetime, not_after: datetime) -> datetime:
    """When the renewal timer wakes the reconciler: to renew, or to delete at the end."""
    end = spec.lifetime_end
    if end is not None:
        return end
    return renewal_time(not_before, not_after, spec.renew_before_seconds)


def issue_reason(  # noqa: PLR0911 - one return per policy, in order
    spec: CertificateSpec, current: Current | None, *, ca_fingerprint: str, now: datetime
) -> Decision | None:
    """Why a new certificate (or key pair) must be issued now, or None."""
    if lifetime_over(spec, now):
        return None  # the Certificate is deleted, not issued again
    if current is None:
        return Decision(REASON_MISSING, "the Secret does not exist yet")
    if current.key_algorithm is None:
        return Decision(REASON_INCOMPLETE, "the Secret holds no readable private key")
    if current.spec_hash != spec_hash(spec) or current.key_algorithm != spec.key_algorithm:
        return Decision(REASON_SPEC_CHANGED, "names, TTL or key algorithm changed")
    if spec.profile.key_pair_only:
        return None
    if current.not_after is None or current.not_before is None:
        return Decision(REASON_INCOMPLETE, "the Secret holds no readable certificate")
    if current.ca_fingerprint != ca_fingerprint:
        return Decision(REASON_ISSUER_CHANGED, "the Secret's CA is not the cluster's CA")
    if current.faults:
        return Decision(REASON_TAMPERED, current.faults)
    if spec.on_expiry == DELETE:
        return None  # never renewed: it ends with the Certificate
    if now >= current.not_after:
        return Decision(REASON_EXPIRED, f"expired at {current.not_after.isoformat()}")
    due = renewal_time(current.not_before, current.not_after, spec.renew_before_seconds)
    if now >= due:
        return Decision(REASON_RENEWAL_DUE, f"renewal was due at {due.isoformat()}")
    return None


def seconds_until(moment: datetime, now: datetime) -> float:
    return max(0.0, (moment - now).total_seconds())
