"""Run the etcd operator: `python -m operators.etcd`."""

import os
from functools import partial

from operators.etcd.context import EtcdSettings, make_context
from operators.etcd.handlers import register
from shared.identity import OperatorIdentity
from shared.runtime import run
from shared.settings import load

IDENTITY = OperatorIdentity("etcd")


def main() -> None:
    settings = load(EtcdSettings, os.environ, prefix="G8S_ETCD_")
    run(IDENTITY, partial(register, settings=settings), partial(make_context, settings=settings))


if __name__ == "__main__":
    main()
