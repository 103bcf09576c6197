"""Typed view of a ``ClusterNetwork``."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared import fields


@dataclass(frozen=True)
class ClusterNetworkSpec:
    name: str
    namespace: str
    vni: int | None
    subnet: str | None
    mtu: int


def parse(body: Mapping[str, Any]) -> ClusterNetworkSpec:
    vni = fields.at(body, "spec.vni")
    subnet = fields.at(body, "spec.subnet")
    return ClusterNetworkSpec(
        name=fields.string(body, "metadata.name"),
        namespace=fields.string(body, "metadata.namespace"),
        vni=None if vni is None else fields.integer(body, "spec.vni", minimum=1, maximum=2**24 - 1),
        subnet=None if subnet is None else fields.string(body, "spec.subnet"),
        mtu=fields.integer(body, "spec.mtu", default=1450, minimum=1280, maximum=9000),
    )
