"""kopf registrations of the certificates operator; the logic lives elsewhere."""

import kopf

from operators.certificates.model import parse
from shared.api.kinds import CERTIFICATE
from shared.handling import observing
from shared.handling import register as register_reconciler


def register(registry: kopf.OperatorRegistry) -> None:
    register_reconciler(registry, observing(CERTIFICATE, parse))
