"""Secret ``<c>-encryption``: the API server's encryption-at-rest key, as a cluster starts.

Created once (create-only) with one key; a reconcile never replaces it, since
a new key alone would make every Secret already stored in the guest etcd
unreadable. Only a requested rotation changes the keys (keyrotation.py),
adding the new one before removing the old.
"""

import base64
from typing import Any

from operators.cluster.model import ClusterSpec
from shared.api import names
from shared.api.encryption import KEY, KEY_BYTES


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
