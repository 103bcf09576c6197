"""kopf registrations of the cluster operator; the logic lives elsewhere."""

import kopf

from operators.cluster.model import parse
from shared.api.kinds import CLUSTER
from shared.handling import observing
from shared.handling import register as register_reconciler


def register(registry: kopf.OperatorRegistry) -> None:
    register_reconciler(registry, observing(CLUSTER, parse))
