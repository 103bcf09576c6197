"""Run the certificates operator: `python -m operators.certificates`."""

from operators.certificates.context import load_settings, make_context
from operators.certificates.handlers import register
from shared.identity import OperatorIdentity
from shared.runtime import run

IDENTITY = OperatorIdentity("certificates")


def main() -> None:
    run(IDENTITY, load_settings, register, make_context)


if __name__ == "__main__":
    main()
