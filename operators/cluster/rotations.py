"""``g8s rotate encryption <cluster>``: rotate a guest's encryption key now, and wait for it.

Asks the cluster operator through the Cluster annotation
``g8s.io/rotate-encryption`` (each new value asks once; keyrotation.py says
what follows), then waits until the Secret ``<c>-encryption`` records that
request as answered. While it waits, each new ``EncryptionKeyRotating``
message is shown, so a rotation that cannot go on (the guest API unreachable,
an API server that does not load the new keys) says why at once.
"""

import secrets
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from operators.cluster import keyrotation
from operators.cluster.backups import Client, request_value
from shared import conditions as cond
from shared.api import API_VERSION, names
from shared.api import conditions as c
from shared.api.kinds import CLUSTER
from shared.kube import ObjectRef

POLL_SECONDS = 2.0


def condition_line(cluster: Mapping[str, Any]) -> str:
    status = cluster.get("status") or {}
    found = cond.get(status.get("conditions") or [], c.ENCRYPTION_KEY_ROTATING)
    if not found:
        return f"{c.ENCRYPTION_KEY_ROTATING} not reported yet"
    what = f"{found.get('status')} {found.get('reason')}: {found.get('message')}"
    return f"{c.ENCRYPTION_KEY_ROTATING}={what}"


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
    ref = ObjectRef(API_VERSION, CLUSTER.kind, name, namespace)
    if kube.get(ref) is None:
        raise LookupError(f"Cluster {namespace}/{name} not found")
    secret_ref = ObjectRef("v1", "Secret", names.encryption_secret(name), namespace)
    value = request_value(datetime.now(UTC), secrets.token_hex(3))
    kube.patch(ref, {"metadata": {"annotations": {keyrotation.REQUEST_ANNOTATION: value}}})
    asked = f"{keyrotation.REQUEST_ANNOTATION}={value}"
    say(f"asked for a new encryption key for {namespace}/{name} ({asked})")
    deadline, shown = clock() + timeout, ""
    while True:
        cluster = kube.get(ref)
        if cluster is None:
            raise LookupError(f"Cluster {namespace}/{name} was deleted while waiting")
        secret = kube.get(secret_ref) or {}
        line = condition_line(cluster)
        state = keyrotation.state_of(secret)
        if state.done_for == value:
            # The Secret records the answer a moment before the status says it.
            if f"={c.FALSE} " in line or clock() >= deadline:
                return line
            sleep(POLL_SECONDS)
            continue
        if line != shown:
            say(line)
            shown = line
        if clock() >= deadline:
            raise TimeoutError(f"not rotated within {timeout:.0f} s; last: {shown}")
        sleep(POLL_SECONDS)
