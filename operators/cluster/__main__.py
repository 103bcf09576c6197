"""Run the cluster operator: `python -m operators.cluster`."""

from operators.cluster.context import load_settings, make_context
from operators.cluster.handlers import register
from shared.identity import OperatorIdentity
from shared.runtime import run

IDENTITY = OperatorIdentity("cluster")


def main() -> None:
    run(IDENTITY, load_settings, register, make_context)


if __name__ == "__main__":
    main()
