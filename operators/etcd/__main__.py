"""Run the etcd operator: `python -m operators.etcd`."""

from operators.etcd.context import load_settings, make_context
from operators.etcd.handlers import KIND, WATCHED, register
from shared.identity import OperatorIdentity
from shared.runtime import run
from shared.watched import CERTIFICATE_SELECTORS, children_selectors

IDENTITY = OperatorIdentity("etcd")


def main() -> None:
    run(
        IDENTITY,
        load_settings,
        register,
        make_context,
        label_selectors={**CERTIFICATE_SELECTORS, **children_selectors(KIND.operator, WATCHED)},
    )


if __name__ == "__main__":
    main()
