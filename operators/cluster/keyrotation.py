"""Encryption key rotation for a guest cluster: what to do next, from what the Secret says.

Asked for with the Cluster annotation ``g8s.io/rotate-encryption`` (``g8s
rotate encryption`` sets a new value); each new value asks once. The state is
the Secret ``<c>-encryption`` itself — its keys and the annotation
``g8s.io/encryption-rotation`` naming the phase reached — so a rotation goes
on where it was after any crash of the operator. The phases, as Kubernetes
documents a key rotation:

1. ``KeyAdded``: a new key is added last: every API server can read what it
   encrypts before any API server writes with it;
2. ``WriteKeySwitched``: once every API server has loaded that, the new key
   goes first: every write is encrypted with it;
3. ``SecretsRewritten``: once every API server has loaded that, every Secret
   of the guest is written again (a write of an unchanged Secret read with
   an old key stores it anew), so none is left under an old key;
4. ``OldKeysRemoved``: the old keys leave the list;
5. once every API server has loaded that, every Secret is read back (one
   left under a removed key could not be), and the rotation is done: the
   Secret records the request it answered (``g8s.io/encryption-rotated-for``).

"Loaded" is the API servers' own word: each reports the hash of the config it
loaded (``apiserver_encryption_config_controller_last_config_info``), and
each live API server (its identity Lease renewed lately) must report the
hash of the keys the Secret holds. The metric names an API server by the
sha256 of its identity, which is its Lease's name.
"""

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from shared.api import encryption
from shared.api.encryption import Key
from shared.conditions import parse_timestamp

REQUEST_ANNOTATION = "g8s.io/rotate-encryption"
PHASE_ANNOTATION = "g8s.io/encryption-rotation"
DONE_ANNOTATION = "g8s.io/encryption-rotated-for"
REWRITTEN_ANNOTATION = "g8s.io/encryption-secrets-rewritten"
ADDED = "KeyAdded"
SWITCHED = "WriteKeySwitched"
REWRITTEN = "SecretsRewritten"
REMOVED = "OldKeysRemoved"
PHASES = (ADDED, SWITCHED, REWRITTEN, REMOVED)
# The label of the API servers' identity Leases (kube-system), renewed every 10 s.
IDENTITY_SELECTOR = "apiserver.kubernetes.io/identity=kube-apiserver"
LEASE_FRESH = timedelta(seconds=120)
CONFIG_INFO = re.compile(
    r"^apiserver_encryption_config_controller_last_config_info\{(?P<labels>[^}]*)\}\s+1\b",
    re.MULTILINE,
)
LABEL = re.compile(r'(\w+)="([^"]*)"')


class Action(Enum):
    IDLE = "idle"
    ADD = "add"
    SWITCH = "switch"
    REWRITE = "rewrite"
    REMOVE = "remove"
    FINISH = "finish"


# Before these, every API server must have loaded the keys the Secret holds.
NEEDS_LOADED = frozenset({Action.SWITCH, Action.REWRITE, Action.FINISH})


@dataclass(frozen=True)
class State:
    keys: tuple[Key, ...]
    phase: str = ""
    done_for: str = ""
    rewritten: int = 0


def state_of(secret: Mapping[str, Any]) -> State:
    meta = secret.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    phase = str(annotations.get(PHASE_ANNOTATION) or "")
    rewritten = str(annotations.get(REWRITTEN_ANNOTATION) or "0")
    return State(
        keys=encryption.keys_of(secret.get("data") or {}),
        phase=phase if phase in PHASES else "",
        done_for=str(annotations.get(DONE_ANNOTATION) or ""),
        rewritten=int(rewritten) if rewritten.isdigit() else 0,
    )


def next_action(state: State, request: str) -> Action:
    if not state.phase:
        return Action.ADD if request and request != state.done_for else Action.IDLE
    return {
        ADDED: Action.SWITCH,
        SWITCHED: Action.REWRITE,
        REWRITTEN: Action.REMOVE,
        REMOVED: Action.FINISH,
    }[state.phase]


def added(keys: Sequence[Key], secret: str) -> tuple[Key, ...]:
    """The new key last: read by every API server before any writes with it."""
    return (*keys, Key(encryption.next_name(keys), secret))


def switched(keys: Sequence[Key]) -> tuple[Key, ...]:
    """The newest (last) key first: it encrypts every write."""
    return (keys[-1], *keys[:-1])


def removed(keys: Sequence[Key]) -> tuple[Key, ...]:
    return tuple(keys[:1])


def live_apiservers(leases: Iterable[Mapping[str, Any]], now: datetime) -> set[str]:
    """The identities of the API servers whose Lease was renewed within LEASE_FRESH.

    An API server's identity is its Lease's name (``apiserver-<hash of its
    host name>``, the same across its restarts); the holder adds a per-process
    suffix.
    """
    live = set()
    for lease in leases:
        renewed = parse_timestamp((lease.get("spec") or {}).get("renewTime"))
        name = (lease.get("metadata") or {}).get("name")
        if name and renewed is not None and now - renewed <= LEASE_FRESH:
            live.add(str(name))
    return live


def loaded_configs(metrics: str) -> dict[str, str]:
    """API server identity hash -> hash of the encryption config it loaded."""
    found = {}
    for match in CONFIG_INFO.finditer(metrics):
        labels = dict(LABEL.findall(match.group("labels")))
        if "apiserver_id_hash" in labels and "hash" in labels:
            found[labels["apiserver_id_hash"]] = labels["hash"]
    return found


def identity_hash(identity: str) -> str:
    """How the API server names itself in its metrics (sha256 of its identity)."""
    return "sha256:" + hashlib.sha256(identity.encode()).hexdigest()


def not_loaded(live: Iterable[str], seen: Mapping[str, str], expected: str) -> list[str]:
    """The live API servers not (yet seen) reporting ``expected``; [] when all do."""
    return sorted(i for i in live if seen.get(identity_hash(i)) != expected)
