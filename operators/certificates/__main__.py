"""Run the certificates operator: `python -m operators.certificates`."""

from operators.certificates.context import load_settings, make_context
from operators.certificates.handlers import register
from shared.identity import OperatorIdentity
from shared.runtime import run

IDENTITY = OperatorIdentity("certificates")
# Its steps wait on Vault as much as on the API server: more threads than the
# others (docs/operations.md#concurrency-settings).
WORKER_THREADS = 16


def main() -> None:
    run(IDENTITY, load_settings, register, make_context, worker_threads=WORKER_THREADS)


if __name__ == "__main__":
    main()
