"""Run the network host agent: `python -m operators.network.agent`."""

from operators.network.agent.context import load_settings, make_context
from operators.network.agent.handlers import register
from shared.identity import OperatorIdentity
from shared.runtime import run

IDENTITY = OperatorIdentity("network-agent")


def main() -> None:
    run(IDENTITY, load_settings, register, make_context)


if __name__ == "__main__":
    main()
