"""Run the cluster operator: `python -m operators.cluster`."""

from operators.cluster.handlers import register
from shared.identity import OperatorIdentity
from shared.runtime import OperatorContext, run

IDENTITY = OperatorIdentity("cluster")


def main() -> None:
    run(IDENTITY, register, OperatorContext)


if __name__ == "__main__":
    main()
