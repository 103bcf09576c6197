"""Run the network host agent: `python -m operators.network.agent`."""

from functools import partial

from operators.network.agent.context import load_settings, make_context
from operators.network.agent.handlers import register
from shared.identity import OperatorIdentity
from shared.runtime import run

IDENTITY = OperatorIdentity("network-agent")


def main() -> None:
    settings = load_settings()
    run(IDENTITY, partial(register, settings=settings), partial(make_context, settings=settings))


if __name__ == "__main__":
    main()
