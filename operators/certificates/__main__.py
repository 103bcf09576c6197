"""Run the certificates operator: `python -m operators.certificates`."""

from operators.certificates.config import build_context
from operators.certificates.handlers import register
from shared.identity import OperatorIdentity
from shared.runtime import run

IDENTITY = OperatorIdentity("certificates")


def main() -> None:
    run(IDENTITY, register, build_context)


if __name__ == "__main__":
    main()
