"""Run the network operator: `python -m operators.network`."""

from functools import partial

from operators.network.context import load_settings, make_context
from operators.network.handlers import register
from shared.identity import OperatorIdentity
from shared.runtime import run

IDENTITY = OperatorIdentity("network")


def main() -> None:
    settings = load_settings()
    run(IDENTITY, partial(register, settings=settings), partial(make_context, settings=settings))


if __name__ == "__main__":
    main()
