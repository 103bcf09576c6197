"""Secret ``<node>-ignition``: the node's Ignition config and its live files (private keys).

``config.ign`` is what the VM boots with; its hash, on the launcher pod's
template, rolls the VM when it changes. The live files (certificates, keys,
the encryption config) are keys of their own, which the launcher pod mounts
as its 9p share: the kubelet updates a mounted Secret in place, so a renewal
reaches the running VM and changes neither the config nor the hash.
"""

import hashlib
from base64 import b64encode
from collections.abc import Sequence
from typing import Any

from operators.kvm.children.ignition import LiveFile
from operators.kvm.model import KVMNodeSpec
from shared.api import names

CONFIG_KEY = "config.ign"
HASH_ANNOTATION = "g8s.io/ignition-sha256"
LIVE_PREFIX = "pki_"


def content_hash(config: bytes) -> str:
    return hashlib.sha256(config).hexdigest()


def live_key(path: str) -> str:
    """The Secret key of a live file (keys allow no '/'; component names have no '_')."""
    return LIVE_PREFIX + path.replace("/", "_")


def build(spec: KVMNodeSpec, config: bytes, live: Sequence[LiveFile] = ()) -> dict[str, Any]:
    data = {CONFIG_KEY: b64encode(config).decode()}
    data.update({live_key(f.path): f.content_b64 for f in live})
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": names.ignition_secret(spec.name),
            "namespace": spec.namespace,
            "annotations": {HASH_ANNOTATION: content_hash(config)},
        },
        "type": "Opaque",
        "data": data,
    }
