"""Secret ``<c>-encryption``: the API server's encryption-at-rest key, as a cluster starts.

Created once (create-only) with one key; a reconcile never replaces it, since
a new key alone would make every Secret already stored in the guest etcd
unreadable. Only a requested rotation changes the keys (keyrotation.py),
adding the new one before removing the old.

A cluster restored from a backup (``spec.etcd.restoreFrom.encryptionKeysSecret``)
starts with the keys of the cluster the backup came from, under their names:
the Secrets of the backup are stored in etcd under those keys, and a new key
would leave every one of them unreadable.
"""

import base64
from collections.abc import Sequence
from typing import Any

from operators.cluster.model import ClusterSpec
from shared.api import names
from shared.api.encryption import KEY, KEY_BYTES, KEYS, Key, data_of


def build(spec: ClusterSpec, key: bytes) -> dict[str, Any]:
    if len(key) != KEY_BYTES:
        raise ValueError(f"an encryption key has {KEY_BYTES} bytes, got {len(key)}")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": names.encryption_secret(spec.name)},
        "type": "Opaque",
        "data": {KEY: base64.b64encode(key).decode()},
    }


def restored(spec: ClusterSpec, keys: Sequence[Key]) -> dict[str, Any]:
    """The Secret holding ``keys`` (another cluster's, names kept), the first one writing."""
    if not keys:
        raise ValueError("a restored cluster needs at least one encryption key")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": names.encryption_secret(spec.name)},
        "type": "Opaque",
        "data": {KEYS: data_of(keys)[KEYS]},
    }
