"""Secret ``<c>-encryption``: the API server's encryption-at-rest key.

Created once (create-only) and never rotated by a reconcile: a new key would
make every Secret already stored in the guest etcd unreadable.
"""

import base64
from typing import Any

from operators.cluster.model import ClusterSpec
from shared.api import names

KEY = "key"
KEY_BYTES = 32


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
