"""Typed view of a ``ClusterNetwork``: what is requested, and what was recorded before."""

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared import fields
from shared.api.labels import CLUSTER
from shared.errors import InvalidSpec

VNI_MAX = 2**24 - 1


@dataclass(frozen=True)
class ClusterNetworkSpec:
    name: str
    namespace: str
    uid: str
    # The guest cluster: the ``g8s.io/cluster`` label, else the object's name.
    cluster: str
    vni: int | None
    subnet: ipaddress.IPv4Network | None
    mtu: int
    # What an earlier reconciliation recorded in status: kept, never re-drawn.
    recorded_vni: int | None = None
    recorded_subnet: ipaddress.IPv4Network | None = None


def _subnet(body: Mapping[str, Any], path: str) -> ipaddress.IPv4Network | None:
    raw = fields.at(body, path)
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise InvalidSpec(path, f"must be an IPv4 CIDR, got {raw!r}")
    try:
        subnet = ipaddress.IPv4Network(raw, strict=True)
    except ValueError as exc:
        raise InvalidSpec(path, f"must be an IPv4 network such as 10.100.3.0/24: {exc}") from None
    if not 16 <= subnet.prefixlen <= 28:
        raise InvalidSpec(
            path, f"prefix length must be between /16 and /28, got /{subnet.prefixlen}"
        )
    return subnet


def _vni(body: Mapping[str, Any], path: str) -> int | None:
    if fields.at(body, path) is None:
        return None
    return fields.integer(body, path, minimum=1, maximum=VNI_MAX)


def parse(body: Mapping[str, Any]) -> ClusterNetworkSpec:
    name = fields.string(body, "metadata.name")
    labels = fields.at(body, "metadata.labels") or {}
    cluster = labels.get(CLUSTER) if isinstance(labels, Mapping) else None
    return ClusterNetworkSpec(
        name=name,
        namespace=fields.string(body, "metadata.namespace"),
        uid=fields.string(body, "metadata.uid"),
        cluster=cluster if isinstance(cluster, str) and cluster else name,
        vni=_vni(body, "spec.vni"),
        subnet=_subnet(body, "spec.subnet"),
        mtu=fields.integer(body, "spec.mtu", default=1450, minimum=1280, maximum=9000),
        recorded_vni=_vni(body, "status.vni"),
        recorded_subnet=_subnet(body, "status.subnet"),
    )
