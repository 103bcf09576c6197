"""CA rotation for a guest cluster: the cluster operator's next move.

Asked for by ``spec.pki.caRotation.request`` (each new value asks once; ``g8s
rotate ca`` sets one), or when the CA that signs is older than
``spec.pki.caRotation.maxAge`` (the request is then named after that CA, so
it is asked once per CA). ``spec.pki.caRotation.paused`` holds a rotation
between two phases.

The certificates operator makes each phase when the cluster's Certificates
ask for it (shared/api/carotation.py has the contract) and each Certificate
reports the phase its Secret was delivered under (``status.caRotation``).
This module says, from those reports, which phase to ask for next and what
the consumers of the certificates must show first:

- nothing asked for this request: ask for ``Trusted``;
- a phase asked that some Certificate has not delivered: wait for the
  certificates operator (and ask the Certificates that do not ask it yet:
  a node's, made since);
- ``Trusted`` delivered by all: once every consumer trusts both CAs, ask
  for ``Reissued``;
- ``Reissued``: once every consumer serves and authenticates with a
  certificate of the new CA, ask for ``Dropped``;
- ``Dropped``: once every consumer trusts the new CA alone, ask for
  ``Done``: the request is answered, and the Cluster's status records it
  (``status.caRotation.answered``), so that a Certificate made later is not
  taken for one that missed the rotation. A Cluster's first reconcile
  records the request it was created with as answered: its CA is new.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from cryptography import x509

from shared.api import carotation as ca

REQUEST_ANNOTATION = "g8s.io/rotate-ca"
# The request a CA older than maxAge makes, followed by the start of its fingerprint.
AGE_REQUEST_PREFIX = "max-age-"


class Check(Enum):
    NONE = "none"
    TRUSTS_BOTH = "trusts-both"  # every consumer trusts the old CA and the new one
    SIGNED_BY_NEW = "signed-by-new"  # every consumer presents a certificate of the new CA
    TRUSTS_NEW = "trusts-new"  # every consumer trusts the new CA alone


# Reached phase -> the phase to ask for next, and what the consumers must show first.
FOLLOWING = {
    ca.TRUSTED: (ca.REISSUED, Check.TRUSTS_BOTH),
    ca.REISSUED: (ca.DROPPED, Check.SIGNED_BY_NEW),
    ca.DROPPED: (ca.DONE, Check.TRUSTS_NEW),
}


@dataclass(frozen=True)
class Progress:
    """Where the cluster's Certificates are in one request."""

    request: str
    # The furthest phase of the request any Certificate is asked for.
    asked: ca.Phase | None
    # The phase every Certificate delivered (the least of them); None before.
    reached: ca.Phase | None
    # Certificates not asked for ``asked`` yet, and those that did not deliver it.
    unasked: tuple[str, ...] = ()
    behind: tuple[str, ...] = ()


def progress(request: str, certificates: Sequence[Mapping[str, Any]]) -> Progress:
    """What the Certificates (their annotation and ``status.caRotation``) say of ``request``."""
    asked_each = {_name(c): _of(request, _annotation(c)) for c in certificates}
    reached_each = {
        _name(c): _of(request, (c.get("status") or {}).get("caRotation")) for c in certificates
    }
    asked_phases = [p for p in asked_each.values() if p is not None]
    asked = max(asked_phases, key=lambda p: p.index) if asked_phases else None
    if asked is None:
        return Progress(request, None, None)
    reached_phases = list(reached_each.values())
    reached = (
        None
        if not reached_phases or any(p is None for p in reached_phases)
        else min((p for p in reached_phases if p is not None), key=lambda p: p.index)
    )
    unasked = tuple(sorted(n for n, p in asked_each.items() if p != asked))
    behind = tuple(sorted(n for n, p in reached_each.items() if p != asked))
    return Progress(request, asked, reached, unasked, behind)


@dataclass(frozen=True)
class Move:
    """What to do now: ask every Certificate for ``ask`` once ``check`` holds."""

    ask: ca.Phase | None
    check: Check = Check.NONE
    waiting: str = ""


IDLE = Move(None)


def next_move(state: Progress, *, answered: str = "", paused: bool = False) -> Move:
    """The next move of the rotation ``state.request`` asks for; ``answered`` is the
    last request the Cluster's status records as done."""
    request = state.request
    if not request or request == answered or state.reached == ca.Phase(ca.DONE, request):
        return IDLE
    if state.asked is None:
        return IDLE if paused else Move(ca.Phase(ca.TRUSTED, request))
    if state.unasked:
        # A Certificate made since the phase was asked (a new node's) is asked too.
        return Move(state.asked, waiting=_count(state, "to be asked"))
    if state.behind or state.reached != state.asked:
        return Move(None, waiting=f"the certificates operator: {_count(state, 'behind')}")
    if paused:
        return Move(None, waiting=f"paused after {state.reached.name}")
    after, check = FOLLOWING[state.reached.name]
    return Move(ca.Phase(after, request), check)


def _count(state: Progress, what: str) -> str:
    names = state.unasked if what == "to be asked" else state.behind
    shown = ", ".join(names[:3]) + (" ..." if len(names) > 3 else "")
    phase = state.asked.name if state.asked else "?"
    return f"{len(names)} Certificates {what} for {phase} ({shown})"


def age_request(ca_pem: bytes, max_age: timedelta | None, now: datetime) -> str:
    """The request a CA older than ``max_age`` makes; "" when none is due."""
    if max_age is None:
        return ""
    blocks = ca.certificates_of(ca_pem)
    if not blocks:
        return ""
    signing = x509.load_pem_x509_certificate(blocks[-1])
    if now - signing.not_valid_before_utc < max_age:
        return ""
    return AGE_REQUEST_PREFIX + ca.fingerprint(blocks[-1])[:16]


def _name(certificate: Mapping[str, Any]) -> str:
    return str((certificate.get("metadata") or {}).get("name") or "")


def _annotation(certificate: Mapping[str, Any]) -> object:
    annotations = (certificate.get("metadata") or {}).get("annotations") or {}
    return annotations.get(ca.ROTATION_ANNOTATION)


def _of(request: str, value: object) -> ca.Phase | None:
    phase = ca.parse_phase(value)
    return phase if phase is not None and phase.request == request else None


@dataclass(frozen=True)
class GuestView:
    """What the guest's API server shows of its certificates."""

    # The CAs it accepts client certificates from (the client-ca-file it loaded,
    # as it publishes it in kube-system/extension-apiserver-authentication).
    client_cas: frozenset[str]
    # The CA that signed the certificate it serves ("" when none of the bundle did).
    serving_signer: str
    # The digest of the CA bundles the etcd members run with ("" while they roll).
    etcd_trust: str = ""
    # Each of the guest's control-plane pods that reports it (on its mirror pod):
    # the file digest of the ca.crt it was started with, "" while it is not Ready.
    # The pods of a guest booted before g8s stamped them report none.
    control_plane_trust: Mapping[str, str] = field(default_factory=dict)


def missing(check: Check, view: GuestView, bundle: bytes) -> str:
    """What the guest does not show yet of ``check``; "" once it does.

    ``bundle`` is the cluster's ``ca.crt`` (oldest first: the new CA is last).
    """
    blocks = ca.certificates_of(bundle)
    if check is Check.NONE or not blocks:
        return ""
    trusted = frozenset(ca.fingerprint(b) for b in blocks)
    new = ca.fingerprint(blocks[-1])
    if check in (Check.TRUSTS_BOTH, Check.TRUSTS_NEW):
        if view.client_cas != trusted:
            return (
                f"the guest API server accepts client certificates of {len(view.client_cas)}"
                f" CAs, not yet of exactly the {len(trusted)} of the bundle"
            )
        if view.etcd_trust != ca.trust_digest([bundle] * 3):
            return "the etcd members have not all restarted with the bundle yet"
    if check is Check.TRUSTS_BOTH:
        # Only a CA gained restarts them (their clients must trust the servers'
        # next certificates); one dropped does not, so the last check has
        # nothing to wait for here.
        digest = ca.file_digest(bundle)
        stale = sorted(n for n, d in view.control_plane_trust.items() if d != digest)
        if stale:
            shown = ", ".join(stale[:3]) + (" ..." if len(stale) > 3 else "")
            return f"the guest's control plane has not restarted with the bundle yet: {shown}"
    if check is Check.SIGNED_BY_NEW and view.serving_signer != new:
        return "the guest API server does not serve a certificate of the new CA yet"
    return ""


def control_plane_trust(pods: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Each pod's (the guest's kube-system pods of tier control-plane) digest of the
    CA bundle it was started with; "" while it is not Ready or going."""
    found: dict[str, str] = {}
    for pod in pods:
        meta = pod.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        if ca.STATIC_POD_TRUST_ANNOTATION not in annotations:
            continue
        conditions = (pod.get("status") or {}).get("conditions") or []
        ready = any(x.get("type") == "Ready" and x.get("status") == "True" for x in conditions)
        running = ready and not meta.get("deletionTimestamp")
        digest = str(annotations[ca.STATIC_POD_TRUST_ANNOTATION]) if running else ""
        found[str(meta.get("name") or "")] = digest
    return found


def client_cas(configmap: Mapping[str, Any] | None) -> frozenset[str]:
    """The fingerprints of the CAs in extension-apiserver-authentication's client-ca-file."""
    text = str(((configmap or {}).get("data") or {}).get("client-ca-file") or "")
    return frozenset(ca.fingerprint(b) for b in ca.certificates_of(text.encode()))


def pruned(check: Check, configmap: Mapping[str, Any] | None, bundle: bytes) -> str | None:
    """The published client-ca-file without the CAs the bundle no longer holds, when the
    last check waits on them; None when there is nothing to take out."""
    if check is not Check.TRUSTS_NEW:
        return None
    text = str(((configmap or {}).get("data") or {}).get("client-ca-file") or "")
    trusted = {ca.fingerprint(b) for b in ca.certificates_of(bundle)}
    blocks = ca.certificates_of(text.encode())
    kept = [b for b in blocks if ca.fingerprint(b) in trusted]
    if len(kept) == len(blocks) or not kept:
        return None
    return b"".join(kept).decode()
