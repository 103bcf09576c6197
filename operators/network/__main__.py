"""Run the network operator: `python -m operators.network`."""

from operators.network.handlers import register
from shared.identity import OperatorIdentity
from shared.runtime import OperatorContext, run

IDENTITY = OperatorIdentity("network")


def main() -> None:
    run(IDENTITY, register, OperatorContext)


if __name__ == "__main__":
    main()
