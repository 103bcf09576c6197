"""``g8s rotate encryption|sa|ca <cluster>``: rotate a guest's encryption key, its
service-account signing key or its CA now, and wait for it.

Asks the cluster operator with a new value (each new value asks once): the
Cluster annotation ``g8s.io/rotate-encryption`` (keyrotation.py says what
follows) or ``g8s.io/rotate-service-account`` (sarotation.py), or the field
``spec.pki.caRotation.request`` (carotation.py); then waits until what
records the rotation (the Secret ``<c>-encryption`` or
``<c>-service-account``, the Cluster's ``status.caRotation.answered``) has
that request answered. While it waits, each new
message of the rotation's condition is shown, so a rotation that cannot go
on (the guest API unreachable, an API server that does not load the new
keys) says why at once.
"""

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from operators.cluster import keyrotation, sarotation
from operators.cluster.backups import Client, request_value
from shared import conditions as cond
from shared.api import API_VERSION, names
from shared.api import certificates as catalogue
from shared.api import conditions as c
from shared.api import serviceaccount as sa
from shared.api.kinds import CLUSTER
from shared.kube import ObjectRef

POLL_SECONDS = 2.0


@dataclass(frozen=True)
class Kind:
    """One kind of rotation: how it is asked for, where it is answered, what it says."""

    what: str  # as said to the user
    request: str  # what asks (a Cluster annotation, or a spec field)
    condition: str  # the Cluster condition that reports it
    # The object that records the answer: a Secret named from the Cluster's
    # name, or the Cluster itself (None).
    secret: Callable[[str], str] | None
    answered: Callable[[Mapping[str, Any], str], bool]  # that object answers this request
    # The Cluster patch that asks with ``value`` (and extra annotations).
    ask: Callable[[str, Mapping[str, str]], dict[str, Any]] = lambda value, extra: {}


def _annotating(request: str) -> Callable[[str, Mapping[str, str]], dict[str, Any]]:
    return lambda value, extra: {"metadata": {"annotations": {**extra, request: value}}}


ENCRYPTION = Kind(
    "a new encryption key",
    keyrotation.REQUEST_ANNOTATION,
    c.ENCRYPTION_KEY_ROTATING,
    names.encryption_secret,
    lambda secret, value: keyrotation.state_of(secret).done_for == value,
    _annotating(keyrotation.REQUEST_ANNOTATION),
)
SERVICE_ACCOUNT = Kind(
    "a new service-account signing key",
    sarotation.REQUEST_ANNOTATION,
    c.SERVICE_ACCOUNT_KEY_ROTATING,
    lambda cluster: names.certificate(cluster, catalogue.SERVICE_ACCOUNT),
    lambda secret, value: (
        ((secret.get("metadata") or {}).get("annotations") or {}).get(sa.ROTATION_ANNOTATION)
        == sa.Step(sa.DONE, value).text()
    ),
    _annotating(sarotation.REQUEST_ANNOTATION),
)
CA = Kind(
    "a new CA",
    "spec.pki.caRotation.request",
    c.CA_ROTATING,
    None,
    lambda cluster, value: (
        (((cluster.get("status") or {}).get("caRotation") or {}).get("answered")) == value
    ),
    lambda value, extra: {"spec": {"pki": {"caRotation": {"request": value}}}},
)


def condition_line(cluster: Mapping[str, Any], condition: str = c.ENCRYPTION_KEY_ROTATING) -> str:
    status = cluster.get("status") or {}
    found = cond.get(status.get("conditions") or [], condition)
    if not found:
        return f"{condition} not reported yet"
    what = f"{found.get('status')} {found.get('reason')}: {found.get('message')}"
    return f"{condition}={what}"


def rotate_encryption(
    kube: Client,
    name: str,
    namespace: str,
    *,
    timeout: float,
    say: Callable[[str], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Ask for a new encryption key for Cluster ``name`` and wait until every Secret
    of the guest is under it; the final condition line."""
    return rotate(
        kube, ENCRYPTION, name, namespace, timeout=timeout, say=say, clock=clock, sleep=sleep
    )


def rotate(
    kube: Client,
    kind: Kind,
    name: str,
    namespace: str,
    *,
    timeout: float,
    say: Callable[[str], None],
    extra: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Ask for a rotation of ``kind`` (with ``extra`` annotations) and wait until the
    Secret records it answered; the final condition line."""
    ref = ObjectRef(API_VERSION, CLUSTER.kind, name, namespace)
    if kube.get(ref) is None:
        raise LookupError(f"Cluster {namespace}/{name} not found")
    secret_ref = ObjectRef("v1", "Secret", kind.secret(name), namespace) if kind.secret else None
    value = request_value(datetime.now(UTC), secrets.token_hex(3))
    kube.patch(ref, kind.ask(value, extra or {}))
    say(f"asked for {kind.what} for {namespace}/{name} ({kind.request}={value})")
    started = clock()
    deadline, shown = started + timeout, ""
    while True:
        cluster = kube.get(ref)
        if cluster is None:
            raise LookupError(f"Cluster {namespace}/{name} was deleted while waiting")
        record = (kube.get(secret_ref) or {}) if secret_ref is not None else cluster
        line = condition_line(cluster, kind.condition)
        if kind.answered(record, value):
            # The Secret records the answer a moment before the status says it.
            if f"={c.FALSE} " in line or clock() >= deadline:
                return line
            sleep(POLL_SECONDS)
            continue
        if line != shown:
            # The seconds let a user line the progress up with what their clients saw.
            say(f"{clock() - started:5.0f} s  {line}")
            shown = line
        if clock() >= deadline:
            raise TimeoutError(f"not rotated within {timeout:.0f} s; last: {shown}")
        sleep(POLL_SECONDS)
