"""Run the certificates operator: `python -m operators.certificates`."""

from operators.certificates.handlers import register
from shared.identity import OperatorIdentity
from shared.runtime import OperatorContext, run

IDENTITY = OperatorIdentity("certificates")


def main() -> None:
    run(IDENTITY, register, OperatorContext)


if __name__ == "__main__":
    main()
