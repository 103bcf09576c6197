"""Label and annotation keys shared by every g8s operator.

See docs/design.md#names-labels-and-ownership and #status-and-conditions.
"""

from shared.api import GROUP

MANAGED_BY = "app.kubernetes.io/managed-by"
CLUSTER = f"{GROUP}/cluster"
CERTIFICATE = f"{GROUP}/certificate"
NODE_ROLE = f"{GROUP}/node-role"
# On host Nodes: whose pods really run ("real") and whose are simulated
# ("simulated", e.g. kwok's), so that conditions can name their source.
HOST = f"{GROUP}/host"
HOST_REAL = "real"
HOST_SIMULATED = "simulated"

PAUSED = f"{GROUP}/paused"
CAPI_PAUSED = "cluster.x-k8s.io/paused"
BACKUP_NOW = f"{GROUP}/backup-now"
# Set on an owner by the operator when a child it reads changed (shared.owners).
CHILDREN_ANNOTATION = f"{GROUP}/children"
# Stamped on a Cluster while a node is not Ready, so that node health is judged
# again when no child changes (the cluster operator's health timer).
HEALTH_CHECK_ANNOTATION = f"{GROUP}/health-check"


def managed_by(operator: str) -> str:
    """The value of ``app.kubernetes.io/managed-by`` for objects ``operator`` writes."""
    return f"g8s-{operator}"


def standard_labels(operator: str, cluster: str) -> dict[str, str]:
    """The labels every object g8s writes must carry."""
    return {MANAGED_BY: managed_by(operator), CLUSTER: cluster}
