"""The five g8s custom resource kinds and the operator that owns each."""

from dataclasses import dataclass

from shared.api import GROUP, VERSION


@dataclass(frozen=True)
class Kind:
    """One g8s custom resource kind."""

    kind: str
    plural: str
    short_name: str
    operator: str

    @property
    def group(self) -> str:
        return GROUP

    @property
    def version(self) -> str:
        return VERSION

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


CLUSTER = Kind("Cluster", "clusters", "g8c", "cluster")
CERTIFICATE = Kind("Certificate", "certificates", "g8cert", "certificates")
ETCD_CLUSTER = Kind("EtcdCluster", "etcdclusters", "g8etcd", "etcd")
CLUSTER_NETWORK = Kind("ClusterNetwork", "clusternetworks", "g8net", "network")
KVM_NODE = Kind("KVMNode", "kvmnodes", "g8node", "kvm")

ALL_KINDS: tuple[Kind, ...] = (CLUSTER, CERTIFICATE, ETCD_CLUSTER, CLUSTER_NETWORK, KVM_NODE)


def by_operator(operator: str) -> Kind:
    """The kind owned by ``operator`` (``cluster``, ``certificates``, ...)."""
    for kind in ALL_KINDS:
        if kind.operator == operator:
            return kind
    raise KeyError(f"no g8s operator named {operator!r}")
