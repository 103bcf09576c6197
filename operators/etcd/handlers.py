"""kopf registrations of the etcd operator; the logic lives elsewhere."""

import kopf

from operators.etcd.model import parse
from shared.api.kinds import ETCD_CLUSTER
from shared.handling import observing
from shared.handling import register as register_reconciler


def register(registry: kopf.OperatorRegistry) -> None:
    register_reconciler(registry, observing(ETCD_CLUSTER, parse))
