"""Typed view of a ``Certificate``: ``parse(body) -> CertificateSpec``.

The spec names the cluster and component; the subject (common name,
organisations, DNS names, IP addresses) comes from the spec when given there,
else from the component catalogue (``shared.api.certificates``) with the
cluster's ``baseDomain`` and ``serviceCIDR``. Key usages always come from the
catalogue. The CRD rejects most bad input; ``parse`` catches what still gets
through and names the field.
"""

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared import fields
from shared.api import certificates as catalogue
from shared.conditions import parse_timestamp
from shared.errors import InvalidSpec

DEFAULT_TTL = "4320h"
DEFAULT_RENEW_BEFORE = "720h"
# spec.onExpiry: renewed before it expires (every certificate a cluster uses),
# or deleted at the end of its ttl (a short-lived credential handed out once).
RENEW = "Renew"
DELETE = "Delete"
ON_EXPIRY = (RENEW, DELETE)


def seconds(text: str, field: str) -> int:
    """Whole seconds in a Go duration ("4320h", "1h30m", "90s")."""
    return int(fields.seconds(field, text.strip()))


@dataclass(frozen=True)
class CertificateSpec:
    name: str
    namespace: str
    cluster: str
    component: str
    ttl_seconds: int
    renew_before_seconds: int
    key_algorithm: str
    base_domain: str = ""
    service_cidr: str = ""
    cluster_domain: str = catalogue.DEFAULT_CLUSTER_DOMAIN
    common_name: str | None = None
    # The node of a per-node (kubelet) certificate; empty otherwise.
    node: str = ""
    organizations: tuple[str, ...] | None = None
    dns_names: tuple[str, ...] | None = None
    ip_addresses: tuple[str, ...] | None = None
    # spec.secretName: a Secret of its own instead of the component's.
    secret_name_override: str = ""
    on_expiry: str = RENEW
    # metadata.creationTimestamp: where a Delete certificate's life starts.
    created: datetime | None = None

    @property
    def lifetime_end(self) -> datetime | None:
        """When an ``onExpiry: Delete`` Certificate ends, with every certificate
        issued for it (even one issued again after its Secret was deleted)."""
        if self.on_expiry != DELETE or self.created is None:
            return None
        return self.created + timedelta(seconds=self.ttl_seconds)

    @property
    def ttl(self) -> str:
        """The TTL as Vault reads it."""
        return f"{self.ttl_seconds}s"

    @property
    def cluster_info(self) -> catalogue.ClusterInfo:
        return catalogue.ClusterInfo(
            name=self.cluster,
            namespace=self.namespace,
            base_domain=self.base_domain,
            service_cidr=self.service_cidr,
            cluster_domain=self.cluster_domain,
            node=self.node,
        )

    @property
    def secret_name(self) -> str:
        if self.secret_name_override:
            return self.secret_name_override
        return catalogue.secret_name(self.cluster, self.component, self.node)

    @property
    def role(self) -> str:
        return catalogue.role_name(self.component, self.node)

    @property
    def profile(self) -> catalogue.Profile:
        """The catalogue's profile of the component, with what the spec states instead."""
        base = catalogue.profile(self.component, self.cluster_info)
        return catalogue.Profile(
            component=base.component,
            common_name=self.common_name or base.common_name,
            organizations=_given(self.organizations, base.organizations),
            dns_names=_given(self.dns_names, base.dns_names),
            ip_addresses=_given(self.ip_addresses, base.ip_addresses),
            key_usages=base.key_usages,
            ext_key_usages=base.ext_key_usages,
            key_pair_only=base.key_pair_only,
        )


def _given(stated: tuple[str, ...] | None, default: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(stated)) if stated is not None else default


def _optional_strings(body: Mapping[str, Any], path: str) -> tuple[str, ...] | None:
    if fields.at(body, path) is None:
        return None
    return fields.strings(body, path)


def parse(body: Mapping[str, Any]) -> CertificateSpec:
    service_cidr = str(fields.at(body, "spec.serviceCIDR") or "")
    if service_cidr:
        try:
            ipaddress.ip_network(service_cidr, strict=False)
        except ValueError:
            raise InvalidSpec("spec.serviceCIDR", f"is not a CIDR: {service_cidr!r}") from None
    ips = _optional_strings(body, "spec.ipAddresses")
    for ip in ips or ():
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise InvalidSpec("spec.ipAddresses", f"{ip!r} is not an IP address") from None
    ttl = seconds(fields.string(body, "spec.ttl", default=DEFAULT_TTL), "spec.ttl")
    renew_before = seconds(
        fields.string(body, "spec.renewBefore", default=DEFAULT_RENEW_BEFORE), "spec.renewBefore"
    )
    if ttl <= 0:
        raise InvalidSpec("spec.ttl", "must be longer than zero")
    component = fields.string(body, "spec.component", choices=catalogue.ALL_COMPONENTS)
    cluster = fields.string(body, "spec.cluster")
    node = str(fields.at(body, "spec.node") or "")
    if (component == catalogue.NODE) != bool(node):
        raise InvalidSpec("spec.node", "is required for component node and only for it")
    if node and not catalogue.is_node_of(node, cluster):
        raise InvalidSpec("spec.node", f"{node!r} is not a node of cluster {cluster}")
    common_name = fields.at(body, "spec.commonName")
    if common_name is not None and not isinstance(common_name, str):
        raise InvalidSpec("spec.commonName", f"must be a string, got {common_name!r}")
    return CertificateSpec(
        name=fields.string(body, "metadata.name"),
        namespace=fields.string(body, "metadata.namespace"),
        cluster=cluster,
        component=component,
        node=node,
        ttl_seconds=ttl,
        renew_before_seconds=renew_before,
        key_algorithm=fields.string(
            body,
            "spec.keyAlgorithm",
            default=catalogue.DEFAULT_KEY_ALGORITHM,
            choices=catalogue.KEY_ALGORITHMS,
        ),
        base_domain=str(fields.at(body, "spec.baseDomain") or ""),
        service_cidr=service_cidr,
        cluster_domain=fields.string(
            body, "spec.clusterDomain", default=catalogue.DEFAULT_CLUSTER_DOMAIN
        ),
        common_name=common_name or None,
        organizations=_optional_strings(body, "spec.organizations"),
        dns_names=_optional_strings(body, "spec.dnsNames"),
        ip_addresses=ips,
        secret_name_override=str(fields.at(body, "spec.secretName") or ""),
        on_expiry=fields.string(body, "spec.onExpiry", default=RENEW, choices=ON_EXPIRY),
        created=parse_timestamp(fields.at(body, "metadata.creationTimestamp")),
    )
