"""The guest API server's encryption keys: Secret ``<c>-encryption`` and the config made of them.

The cluster operator writes the keys and rotates them; the kvm operator
renders them into each control-plane node's encryption config (a live file,
which the API server reloads). Both use ``document``, so the hash the API
server reports for the config it loaded (metric
``apiserver_encryption_config_controller_last_config_info``) can be compared
with ``config_hash`` of the keys the Secret holds.

The Secret holds either ``key`` (one key, named ``key1``: every cluster
starts so) or, once a rotation has begun, ``keys``: a JSON list of
``{"name", "secret"}`` in the order the API server tries them, the first one
also encrypting every write.
"""

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

KEY = "key"
KEYS = "keys"
FIRST_NAME = "key1"
KEY_BYTES = 32
PROVIDER = "secretbox"


@dataclass(frozen=True)
class Key:
    name: str
    # Base64 of KEY_BYTES bytes, as the encryption config takes it.
    secret: str


def keys_of(data: Mapping[str, str]) -> tuple[Key, ...]:
    """The keys of the Secret's data (values base64, as a Secret has them); () when none."""
    if data.get(KEYS):
        listed = json.loads(base64.b64decode(data[KEYS]))
        return tuple(Key(str(k["name"]), str(k["secret"])) for k in listed)
    if data.get(KEY):
        return (Key(FIRST_NAME, data[KEY]),)
    return ()


def data_of(keys: Sequence[Key]) -> dict[str, str | None]:
    """The Secret data (a merge patch) holding ``keys``; the single ``key`` goes."""
    listed = [{"name": k.name, "secret": k.secret} for k in keys]
    return {KEYS: base64.b64encode(json.dumps(listed).encode()).decode(), KEY: None}


def next_name(keys: Sequence[Key]) -> str:
    numbers = [
        int(k.name.removeprefix("key")) for k in keys if k.name.removeprefix("key").isdigit()
    ]
    return f"key{max(numbers, default=0) + 1}"


def config(keys: Sequence[Key]) -> dict[str, Any]:
    return {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [
            {
                "resources": ["secrets"],
                "providers": [
                    {PROVIDER: {"keys": [{"name": k.name, "secret": k.secret} for k in keys]}},
                    # Secrets written before encryption was on stay readable.
                    {"identity": {}},
                ],
            }
        ],
    }


def document(keys: Sequence[Key]) -> bytes:
    """The config file's exact bytes."""
    return (json.dumps(config(keys), indent=2) + "\n").encode()


def config_hash(keys: Sequence[Key]) -> str:
    """What the API server reports for having loaded ``document(keys)``."""
    return "sha256:" + hashlib.sha256(document(keys)).hexdigest()


def storage_prefix(key: Key) -> bytes:
    """How a value the API server encrypted with ``key`` begins in etcd."""
    return f"k8s:enc:{PROVIDER}:v1:{key.name}:".encode()
