"""Run the cluster operator: `python -m operators.cluster`."""

from operators.cluster.context import build_context
from operators.cluster.handlers import register
from shared.identity import OperatorIdentity
from shared.runtime import run

IDENTITY = OperatorIdentity("cluster")


def main() -> None:
    run(IDENTITY, register, build_context)


if __name__ == "__main__":
    main()
