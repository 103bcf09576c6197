"""The ``Certificate`` of one catalogue component of the cluster."""

from typing import Any

from operators.cluster.model import ClusterSpec
from shared.api import API_VERSION, names
from shared.api import certificates as catalogue
from shared.api.kinds import CERTIFICATE
from shared.api.labels import CERTIFICATE as CERTIFICATE_LABEL


def cluster_info(spec: ClusterSpec) -> catalogue.ClusterInfo:
    return catalogue.ClusterInfo(
        name=spec.name,
        namespace=spec.namespace,
        base_domain=spec.base_domain,
        service_cidr=spec.service_cidr,
    )


def build(spec: ClusterSpec, component: str, api_ip: str = "") -> dict[str, Any]:
    """``api_ip``: the API Service's ClusterIP, which clients outside the guests dial."""
    body = catalogue.certificate_spec(
        component,
        cluster_info(spec),
        ttl=spec.cert_ttl,
        renew_before=spec.cert_renew_before,
        key_algorithm=spec.key_algorithm,
    )
    if component == catalogue.API and api_ip:
        body["ipAddresses"] = [
            *catalogue.profile(component, cluster_info(spec)).ip_addresses,
            api_ip,
        ]
    return {
        "apiVersion": API_VERSION,
        "kind": CERTIFICATE.kind,
        "metadata": {
            "name": names.certificate(spec.name, component),
            "labels": {CERTIFICATE_LABEL: component},
        },
        # The catalogue's names already derive from these; the Certificate
        # keeps them so that its operator can rebuild the same role.
        "spec": {**body, "baseDomain": spec.base_domain, "serviceCIDR": spec.service_cidr},
    }


def build_all(spec: ClusterSpec, api_ip: str = "") -> list[dict[str, Any]]:
    return [build(spec, component, api_ip) for component in catalogue.COMPONENTS]
