"""The certificate component catalogue of a guest cluster.

See docs/design.md#what-each-operator-promises.

Pure data and pure functions: which certificates a guest cluster needs, and for
each its common name, organisations, DNS names, IP SANs and key usages, derived
from the cluster's name, namespace, ``baseDomain`` and ``serviceCIDR``. The
cluster operator creates one ``Certificate`` per component from this module;
the certificates operator builds each component's Vault role from it, so a
role can only ever issue the names listed here for its own cluster.

Key usage names are those of Vault's PKI roles (``DigitalSignature``,
``ServerAuth`` ...), which are also the names of x509's usages without spaces.
"""

import functools
import ipaddress
from dataclasses import dataclass

from shared.api import GROUP, names

# Component names (the ``spec.component`` of a Certificate, a suffix of its Secret).
API = "api"
ETCD_SERVER = "etcd-server"
ETCD_PEER = "etcd-peer"
ETCD_CLIENT = "etcd-client"
APISERVER_ETCD_CLIENT = "apiserver-etcd-client"
APISERVER_KUBELET_CLIENT = "apiserver-kubelet-client"
FRONT_PROXY_CLIENT = "front-proxy-client"
CONTROLLER_MANAGER = "controller-manager"
SCHEDULER = "scheduler"
WORKER = "worker"
ADMIN = "admin"
SERVICE_ACCOUNT = "service-account"
CALICO = "calico"
# One kubelet's identity, issued per node (``spec.node`` names it), never per cluster.
NODE = "node"

COMPONENTS: tuple[str, ...] = (
    API,
    ETCD_SERVER,
    ETCD_PEER,
    ETCD_CLIENT,
    APISERVER_ETCD_CLIENT,
    APISERVER_KUBELET_CLIENT,
    FRONT_PROXY_CLIENT,
    CONTROLLER_MANAGER,
    SCHEDULER,
    WORKER,
    ADMIN,
    SERVICE_ACCOUNT,
    CALICO,
)

# Every component a Certificate may name: the cluster-wide ones and the per-node one.
ALL_COMPONENTS: tuple[str, ...] = (*COMPONENTS, NODE)

# Key algorithms a Certificate may ask for.
ECDSA_P256 = "ECDSAP256"
RSA2048 = "RSA2048"
RSA4096 = "RSA4096"
KEY_ALGORITHMS: tuple[str, ...] = (ECDSA_P256, RSA2048, RSA4096)
DEFAULT_KEY_ALGORITHM = ECDSA_P256

# Key usages, as Vault's roles name them.
DIGITAL_SIGNATURE = "DigitalSignature"
KEY_ENCIPHERMENT = "KeyEncipherment"
SERVER_AUTH = "ServerAuth"
CLIENT_AUTH = "ClientAuth"

# The most etcd members an EtcdCluster may have; every possible member name is
# in the etcd certificates so that scaling up never needs a re-issue.
MAX_ETCD_MEMBERS = 5
DEFAULT_CLUSTER_DOMAIN = "cluster.local"

# Secret data keys of a key-pair-only component (service-account).
PUBLIC_KEY = "tls.pub"
PRIVATE_KEY = "tls.key"

# Annotation a Certificate carries while its renewal is due, so that the
# reconcile handler wakes up (kopf ignores changes to its own annotations).
RENEWAL_DUE_ANNOTATION = f"{GROUP}/renewal-due"


def mount_path(namespace: str, cluster: str, prefix: str = "pki") -> str:
    """The Vault PKI mount holding one guest cluster's CA and roles."""
    return f"{prefix}-{namespace}-{cluster}"


def role_name(component: str, node: str = "") -> str:
    """The Vault role that signs ``component``'s certificates (one role per node for NODE)."""
    return f"{component}-{node}" if component == NODE else component


def secret_name(cluster: str, component: str, node: str = "") -> str:
    """The Certificate's name, which is also the name of the Secret it writes."""
    if component == NODE:
        return names.node_certificate(node)
    return names.certificate(cluster, component)


@dataclass(frozen=True)
class ClusterInfo:
    """What the catalogue needs to know about one guest cluster.

    An empty ``base_domain`` or ``service_cidr`` leaves out the names derived
    from it (the object naming them must then list them itself).
    """

    name: str
    namespace: str
    base_domain: str = ""
    service_cidr: str = ""
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
    # The node of a NODE certificate; empty for the cluster-wide components.
    node: str = ""


@dataclass(frozen=True)
class Profile:
    """Everything a certificate of one component of one cluster carries."""

    component: str
    common_name: str
    organizations: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    key_usages: tuple[str, ...] = (DIGITAL_SIGNATURE, KEY_ENCIPHERMENT)
    ext_key_usages: tuple[str, ...] = ()
    # A key pair without a certificate (the service-account signing key).
    key_pair_only: bool = False

    @property
    def server(self) -> bool:
        return SERVER_AUTH in self.ext_key_usages

    @property
    def client(self) -> bool:
        return CLIENT_AUTH in self.ext_key_usages


def first_service_ip(service_cidr: str) -> str:
    """The first host address of the service CIDR: the ``kubernetes`` Service's ClusterIP."""
    network = ipaddress.ip_network(service_cidr, strict=False)
    return str(network.network_address + 1)


def service_names(service: str, namespace: str, cluster_domain: str) -> tuple[str, ...]:
    """The DNS names a Service answers to from inside the host cluster."""
    return (
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.{cluster_domain}",
    )


def api_dns_names(cluster: ClusterInfo) -> tuple[str, ...]:
    public = (f"api.{cluster.base_domain}",) if cluster.base_domain else ()
    return (
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        f"kubernetes.default.svc.{cluster.cluster_domain}",
        *public,
        *service_names(
            names.apiserver_service(cluster.name), cluster.namespace, cluster.cluster_domain
        ),
    )


def etcd_dns_names(cluster: ClusterInfo) -> tuple[str, ...]:
    """Member names of the etcd StatefulSet and both etcd Services, plus localhost."""
    peer = names.etcd_peer_service(cluster.name)
    members: list[str] = []
    for ordinal in range(MAX_ETCD_MEMBERS):
        member = names.etcd_member(cluster.name, ordinal)
        members += [
            member,
            f"{member}.{peer}",
            f"{member}.{peer}.{cluster.namespace}.svc",
            f"{member}.{peer}.{cluster.namespace}.svc.{cluster.cluster_domain}",
        ]
    client = names.etcd_client_service(cluster.name)
    return (
        *members,
        *service_names(client, cluster.namespace, cluster.cluster_domain),
        *service_names(peer, cluster.namespace, cluster.cluster_domain),
        "localhost",
    )


def node_name(cluster: str, role: str, index: int) -> str:
    """A guest node's name: the KVM node's name, which is also the VM's hostname."""
    return names.kvm_node(cluster, role, index)


def node_common_name(node: str) -> str:
    """The kubelet identity Kubernetes' Node authorizer expects for ``node``."""
    return f"system:node:{node}"


def node_profile(node: str) -> Profile:
    """A kubelet's own identity: what the Node authorizer and NodeRestriction admit.

    Client and server: the kubelet joins with it and serves its API with it.
    """
    return Profile(
        NODE,
        common_name=node_common_name(node),
        organizations=("system:nodes",),
        dns_names=(node,),
        ext_key_usages=(SERVER_AUTH, CLIENT_AUTH),
    )


def is_node_of(node: str, cluster: str) -> bool:
    """Whether ``node`` is a name the kvm operator gives to ``cluster``'s nodes."""
    return node.startswith(f"{cluster}-")


def profile(component: str, cluster: ClusterInfo) -> Profile:
    """The certificate ``component`` of ``cluster`` carries; KeyError if unknown."""
    if component == NODE:
        if not cluster.node:
            raise KeyError("a node certificate needs the node's name")
        return node_profile(cluster.node)
    both = (SERVER_AUTH, CLIENT_AUTH)
    client = (CLIENT_AUTH,)
    etcd_names = etcd_dns_names(cluster)
    loopback = ("127.0.0.1",)
    base = cluster.base_domain
    service_ip = (first_service_ip(cluster.service_cidr),) if cluster.service_cidr else ()
    table: dict[str, Profile] = {
        API: Profile(
            API,
            common_name="kube-apiserver",
            dns_names=api_dns_names(cluster),
            ip_addresses=(*service_ip, *loopback),
            ext_key_usages=(SERVER_AUTH,),
        ),
        ETCD_SERVER: Profile(
            ETCD_SERVER,
            common_name=names.etcd_client_service(cluster.name),
            dns_names=etcd_names,
            ip_addresses=loopback,
            ext_key_usages=both,
        ),
        ETCD_PEER: Profile(
            ETCD_PEER,
            common_name=names.etcd_peer_service(cluster.name),
            dns_names=etcd_names,
            ip_addresses=loopback,
            ext_key_usages=both,
        ),
        ETCD_CLIENT: Profile(ETCD_CLIENT, common_name="etcd-client", ext_key_usages=client),
        APISERVER_ETCD_CLIENT: Profile(
            APISERVER_ETCD_CLIENT, common_name="kube-apiserver-etcd-client", ext_key_usages=client
        ),
        APISERVER_KUBELET_CLIENT: Profile(
            APISERVER_KUBELET_CLIENT,
            common_name="kube-apiserver-kubelet-client",
            organizations=("system:masters",),
            ext_key_usages=client,
        ),
        FRONT_PROXY_CLIENT: Profile(
            FRONT_PROXY_CLIENT, common_name="front-proxy-client", ext_key_usages=client
        ),
        CONTROLLER_MANAGER: Profile(
            CONTROLLER_MANAGER, common_name="system:kube-controller-manager", ext_key_usages=client
        ),
        SCHEDULER: Profile(SCHEDULER, common_name="system:kube-scheduler", ext_key_usages=client),
        # One identity shared by the cluster's workers; a per-node identity
        # (CN system:node:<node>, see node_common_name) needs a Certificate per node.
        WORKER: Profile(
            WORKER,
            common_name=node_common_name(f"{cluster.name}-worker"),
            organizations=("system:nodes",),
            dns_names=(f"worker.{base}",) if base else (),
            ext_key_usages=both,
        ),
        ADMIN: Profile(
            ADMIN,
            common_name="admin",
            organizations=("system:masters",),
            ext_key_usages=client,
        ),
        SERVICE_ACCOUNT: Profile(
            SERVICE_ACCOUNT, common_name="service-accounts", key_usages=(), key_pair_only=True
        ),
        CALICO: Profile(
            CALICO,
            common_name="calico-node",
            organizations=("system:nodes",),
            dns_names=(f"calico.{base}",) if base else (),
            ext_key_usages=client,
        ),
    }
    return table[component]


def profiles(cluster: ClusterInfo) -> tuple[Profile, ...]:
    """Every component's profile, in catalogue order."""
    return tuple(profile(component, cluster) for component in COMPONENTS)


@functools.lru_cache(maxsize=1024)
def catalogue_names(cluster: ClusterInfo) -> frozenset[str]:
    """Every DNS name the catalogue gives ``cluster``'s certificates.

    Kept per cluster: each name of each Certificate is checked against them,
    and building every profile once per name was the certificates operator's
    largest cost of its own while 20 clusters were made.
    """
    return frozenset(n for p in profiles(cluster) for n in p.dns_names)


def within_cluster(dns_name: str, cluster: ClusterInfo) -> bool:
    """Whether ``cluster``'s certificates may carry ``dns_name``.

    The catalogue's names of the cluster, and its base domain with its
    subdomains: a Certificate can never have its cluster's roles allow another
    cluster's names.
    """
    name = dns_name.lower().rstrip(".")
    if name in catalogue_names(cluster):
        return True
    if cluster.node and name == cluster.node and is_node_of(cluster.node, cluster.name):
        return True
    base = cluster.base_domain.lower().rstrip(".")
    return bool(base) and (name == base or name.endswith(f".{base}"))


def certificate_spec(
    component: str,
    cluster: ClusterInfo,
    *,
    ttl: str = "4320h",
    renew_before: str = "720h",
    key_algorithm: str = DEFAULT_KEY_ALGORITHM,
) -> dict[str, object]:
    """The ``spec`` of the Certificate that issues ``component`` for ``cluster``."""
    found = profile(component, cluster)
    spec: dict[str, object] = {
        "cluster": cluster.name,
        "component": component,
        "ttl": ttl,
        "renewBefore": renew_before,
        "keyAlgorithm": key_algorithm,
    }
    if component == NODE:
        spec["node"] = cluster.node
    if not found.key_pair_only:
        spec |= {
            "commonName": found.common_name,
            "organizations": list(found.organizations),
            "dnsNames": list(found.dns_names),
            "ipAddresses": list(found.ip_addresses),
        }
    return spec
