"""Secret ``<node>-ignition``: the node's Ignition config (it holds private keys)."""

import hashlib
from base64 import b64encode
from typing import Any

from operators.kvm.model import KVMNodeSpec
from shared.api import names

CONFIG_KEY = "config.ign"
HASH_ANNOTATION = "g8s.io/ignition-sha256"


def content_hash(config: bytes) -> str:
    return hashlib.sha256(config).hexdigest()


def build(spec: KVMNodeSpec, config: bytes) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": names.ignition_secret(spec.name),
            "namespace": spec.namespace,
            "annotations": {HASH_ANNOTATION: content_hash(config)},
        },
        "type": "Opaque",
        "data": {CONFIG_KEY: b64encode(config).decode()},
    }
