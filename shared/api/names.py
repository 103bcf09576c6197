"""Names of the objects derived from a guest cluster's name.

See docs/design.md#names-labels-and-ownership.

``MAX_CLUSTER_NAME`` is the longest cluster name for which every derived name
stays within Kubernetes limits; the Cluster CRD enforces it with CEL.
"""

import hashlib
from collections.abc import Sequence

# Services, and pods' hostnames, are DNS-1123 labels: at most 63 characters.
DNS_LABEL_MAX = 63
# The StatefulSet controller labels each pod ``controller-revision-hash:
# <statefulset>-<10 characters>``; a label value is at most 63 characters.
STATEFULSET_NAME_MAX = 63 - 11
# The longest derived name is the Certificate/Secret "<cluster>-apiserver-kubelet-client"
# (+25 characters, a DNS label once used as a hostname); 36 leaves room for a
# future component with a longer name. tests/unit/test_api_names.py checks
# every derived name of a 36-character cluster against these limits.
MAX_CLUSTER_NAME = 36
NODE_HASH_LEN = 5


def ca_secret(cluster: str) -> str:
    return f"{cluster}-ca"


def certificate(cluster: str, component: str) -> str:
    """Name of the Certificate object, and of the Secret it writes."""
    return f"{cluster}-{component}"


def kubeconfig_secret(cluster: str) -> str:
    return f"{cluster}-kubeconfig"


def encryption_secret(cluster: str) -> str:
    return f"{cluster}-encryption"


def apiserver_service(cluster: str) -> str:
    return f"{cluster}-apiserver"


def etcd_statefulset(cluster: str) -> str:
    return f"{cluster}-etcd"


def etcd_client_service(cluster: str) -> str:
    return f"{cluster}-etcd"


def etcd_peer_service(cluster: str) -> str:
    return f"{cluster}-etcd-peer"


def etcd_member(cluster: str, ordinal: int) -> str:
    """The pod (and etcd member) name of the StatefulSet's ordinal-th member."""
    return f"{etcd_statefulset(cluster)}-{ordinal}"


def cluster_network(cluster: str) -> str:
    return cluster


def node_hash(cluster: str, role: str, index: int) -> str:
    """A short, stable hash naming a KVM node by its cluster, role and index."""
    digest = hashlib.sha256(f"{cluster}/{role}/{index}".encode()).hexdigest()
    return digest[:NODE_HASH_LEN]


def kvm_node(cluster: str, role: str, index: int) -> str:
    prefix = "cp" if role == "controlplane" else "w"
    return f"{cluster}-{prefix}-{node_hash(cluster, role, index)}"


def node_certificate(node: str) -> str:
    """Name of a node's kubelet Certificate, and of the Secret it writes."""
    return f"{node}-kubelet"


def ignition_secret(node: str) -> str:
    return f"{node}-ignition"


def node_disk(node: str) -> str:
    return f"{node}-disk"


def reserved_suffixes(components: Sequence[str]) -> tuple[str, ...]:
    """Name endings a cluster cannot have without a child named like another cluster's.

    Children are named ``<cluster>-<component>``: when a component is
    ``<word>-<another component>``, the cluster ``<c>-<word>`` would name its
    ``<another component>`` exactly as cluster ``<c>`` names its
    ``<component>`` (``a-apiserver`` + ``etcd-client`` = ``a`` +
    ``apiserver-etcd-client``). The Cluster CRD refuses these endings.
    """
    known = set(components)
    found = {
        "-" + component[:cut]
        for component in components
        for cut, char in enumerate(component)
        if char == "-" and component[cut + 1 :] in known
    }
    return tuple(sorted(found))
