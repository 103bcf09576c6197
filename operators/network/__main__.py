"""Run the network operator: `python -m operators.network`."""

from operators.network.context import load_settings, make_context
from operators.network.handlers import register
from shared.identity import OperatorIdentity
from shared.runtime import run

IDENTITY = OperatorIdentity("network")


def main() -> None:
    run(IDENTITY, load_settings, register, make_context)


if __name__ == "__main__":
    main()
