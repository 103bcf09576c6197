"""Run the kvm operator: `python -m operators.kvm`."""

from operators.kvm.context import load_settings, make_context
from operators.kvm.handlers import ETCD_SERVICE_SELECTORS, KIND, WATCHED, register
from shared.identity import OperatorIdentity
from shared.runtime import run
from shared.watched import CERTIFICATE_SELECTORS, children_selectors

IDENTITY = OperatorIdentity("kvm")


def main() -> None:
    run(
        IDENTITY,
        load_settings,
        register,
        make_context,
        label_selectors={
            **CERTIFICATE_SELECTORS,
            **children_selectors(KIND.operator, WATCHED),
            **ETCD_SERVICE_SELECTORS,
        },
    )


if __name__ == "__main__":
    main()
