"""kopf registrations of the network operator; the logic lives elsewhere."""

import kopf

from operators.network.model import parse
from shared.api.kinds import CLUSTER_NETWORK
from shared.handling import observing
from shared.handling import register as register_reconciler


def register(registry: kopf.OperatorRegistry) -> None:
    register_reconciler(registry, observing(CLUSTER_NETWORK, parse))
