"""kopf registrations of the kvm operator; the logic lives elsewhere."""

import kopf

from operators.kvm.model import parse
from shared.api.kinds import KVM_NODE
from shared.handling import observing
from shared.handling import register as register_reconciler


def register(registry: kopf.OperatorRegistry) -> None:
    register_reconciler(registry, observing(KVM_NODE, parse))
