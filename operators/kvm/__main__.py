"""Run the kvm operator: `python -m operators.kvm`."""

import os
from functools import partial

from operators.kvm.context import KVMSettings, make_context
from operators.kvm.handlers import register
from shared.identity import OperatorIdentity
from shared.runtime import run
from shared.settings import load

IDENTITY = OperatorIdentity("kvm")


def main() -> None:
    settings = load(KVMSettings, os.environ, prefix="G8S_KVM_")
    run(IDENTITY, partial(register, settings=settings), partial(make_context, settings=settings))


if __name__ == "__main__":
    main()
