"""The network operator's settings and context (kopf memo): its dependencies, no globals."""

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from operators.network.allocation import Held, Taken
from operators.network.listings import Shared
from operators.network.records import KubeRecordStore
from shared.identity import OperatorIdentity
from shared.metrics import OperatorMetrics
from shared.runtime import OperatorContext, host_api
from shared.settings import RuntimeSettings, load

PREFIX = "G8S_NETWORK_"


@dataclass(frozen=True)
class NetworkSettings:
    """Settings of the network operator (prefix ``G8S_NETWORK_``)."""

    # The VNI pool, inclusive. Requested VNIs outside it are honoured too.
    vni_min: int = 4096
    vni_max: int = 65535
    # The subnet pool and the size of one allocated subnet. Allocation records
    # are kept per block of this size, so it must not change once networks
    # exist (overlap detection compares blocks).
    subnet_pool: str = "10.100.0.0/16"
    subnet_prefix: int = 24
    # Namespace of the allocation records (one ConfigMap per VNI and per
    # subnet block, named after the value). One namespace for all networks, so
    # that the API server's name uniqueness makes the values unique.
    allocation_namespace: str = "g8s-system"
    # Collisions tolerated in one allocation before retrying later.
    allocation_attempts: int = 32
    # Label selector of the host nodes running the agent ("" = every node).
    host_selector: str = ""
    # Ready needs every host agent to have converged. Off in the local
    # environment, whose hosts are simulated: Ready then comes from the
    # allocation alone and its reason says so.
    require_hosts: bool = True
    # How often hosts ready/total is refreshed (seconds).
    hosts_interval: float = 15.0
    # Port of the guest API server behind the ``<cluster>-apiserver`` Service.
    apiserver_port: int = 6443
    # Pods allowed into every guest cluster's pods: the g8s operators.
    operator_selector: str = "app.kubernetes.io/part-of=g8s"


def load_settings(environ: Mapping[str, str]) -> NetworkSettings:
    return load(NetworkSettings, environ, prefix=PREFIX)


@dataclass
class NetworkContext(OperatorContext):
    settings: NetworkSettings = field(default_factory=NetworkSettings)
    rng: random.Random = field(default_factory=random.Random)
    # Which values this process knows to be taken (a hint; see allocation.Taken).
    taken: Taken = field(default_factory=Taken)
    # The host Nodes' names and every allocation record, listed once for all
    # the refreshes within a third of hosts_interval (operators/network/listings.py).
    host_nodes: Shared[list[str]] = field(init=False)
    records: Shared[list[Held]] = field(init=False)

    def __post_init__(self) -> None:
        ttl = self.settings.hosts_interval / 3
        self.host_nodes = Shared(self._list_host_nodes, ttl)
        self.records = Shared(self._list_records, ttl)

    def record_store(self) -> KubeRecordStore:
        return KubeRecordStore(self.client(), self.settings.allocation_namespace)

    def _list_host_nodes(self) -> list[str]:
        selector = self.settings.host_selector
        nodes = self.client().list("v1", "Node", namespace=None, selector=selector)
        return [str(n["metadata"]["name"]) for n in nodes]

    def _list_records(self) -> list[Held]:
        return self.record_store().every()


def make_context(
    identity: OperatorIdentity,
    runtime: RuntimeSettings,
    metrics: OperatorMetrics,
    settings: NetworkSettings,
) -> NetworkContext:
    return NetworkContext(
        identity=identity,
        runtime=runtime,
        metrics=metrics,
        settings=settings,
        kube=host_api(runtime, identity.field_manager, metrics),
    )
