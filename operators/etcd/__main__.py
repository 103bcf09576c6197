"""Run the etcd operator: `python -m operators.etcd`."""

from operators.etcd.handlers import register
from shared.identity import OperatorIdentity
from shared.runtime import OperatorContext, run

IDENTITY = OperatorIdentity("etcd")


def main() -> None:
    run(IDENTITY, register, OperatorContext)


if __name__ == "__main__":
    main()
