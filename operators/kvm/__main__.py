"""Run the kvm operator: `python -m operators.kvm`."""

from operators.kvm.context import load_settings, make_context
from operators.kvm.handlers import register
from shared.identity import OperatorIdentity
from shared.runtime import run

IDENTITY = OperatorIdentity("kvm")


def main() -> None:
    run(IDENTITY, load_settings, register, make_context)


if __name__ == "__main__":
    main()
