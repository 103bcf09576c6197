"""Run the kvm operator: `python -m operators.kvm`."""

from operators.kvm.handlers import register
from shared.identity import OperatorIdentity
from shared.runtime import OperatorContext, run

IDENTITY = OperatorIdentity("kvm")


def main() -> None:
    run(IDENTITY, register, OperatorContext)


if __name__ == "__main__":
    main()
