"""The cluster operator's context: the kit's, plus a second client for pausing children.

Two field managers: ``g8s-cluster`` owns the children it builds, and
``g8s-cluster-pause`` owns only the pause annotation it puts on them, so that
re-applying a child never removes a pause and lifting a pause never touches
the child's spec.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from shared.api.labels import CLUSTER as CLUSTER_LABEL
from shared.identity import OperatorIdentity
from shared.kube import Kube, connect_kubeconfig
from shared.listed import Listed
from shared.metrics import OperatorMetrics
from shared.runtime import OperatorContext, host_api
from shared.settings import RuntimeSettings

PAUSE_MANAGER_SUFFIX = "-pause"


def load_settings(environ: Mapping[str, str]) -> None:
    """Nothing: the kit's RuntimeSettings are all the cluster operator reads."""


@dataclass
class ClusterContext(OperatorContext):
    pause_kube: Kube | None = None
    # A client of a guest cluster from its admin kubeconfig (the encryption
    # key rotation asks the guest's API servers); None: no guest is asked.
    guest_client: Callable[[str], Kube] | None = None

    def pauser(self) -> Kube:
        if self.pause_kube is None:
            raise RuntimeError("the cluster operator runs without a Kubernetes client")
        return self.pause_kube


def make_context(
    identity: OperatorIdentity, runtime: RuntimeSettings, metrics: OperatorMetrics, settings: None
) -> ClusterContext:
    kube = host_api(runtime, identity.field_manager, metrics)
    return ClusterContext(
        identity=identity,
        runtime=runtime,
        metrics=metrics,
        kube=kube,
        pause_kube=kube.as_manager(identity.field_manager + PAUSE_MANAGER_SUFFIX),
        guest_client=lambda text: Kube(connect_kubeconfig(text), identity.field_manager),
        # A Cluster's children, grouped by the label with its name (shared.listed).
        listed=Listed(CLUSTER_LABEL),
    )
