"""Typed view of an ``EtcdCluster``."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared import fields


@dataclass(frozen=True)
class EtcdClusterSpec:
    name: str
    namespace: str
    replicas: int
    version: str


def parse(body: Mapping[str, Any]) -> EtcdClusterSpec:
    replicas = fields.integer(body, "spec.replicas", default=1, minimum=1, maximum=5)
    return EtcdClusterSpec(
        name=fields.string(body, "metadata.name"),
        namespace=fields.string(body, "metadata.namespace"),
        replicas=replicas,
        version=fields.string(body, "spec.version"),
    )
