"""The operator crash storm at full size: ``python -m bench.storm``.

Runs the reliability tier's crash-storm scenario (tests/reliability/
test_crash_storm.py) with the counts of issue 14 instead of CI's handful:
``--new`` Clusters created and ``--old`` deleted while a random operator is
SIGKILLed every ``--every`` seconds for ``--seconds``, ``--keep`` more living
through it. Same code path, same checks (every remaining Cluster Ready, no
duplicate child, nothing left of the deleted ones, no certificate signed
twice for one revision, no PKI damage); printed: the scenario's summary line,
the kills, and how long convergence took after the storm began. Exits with
pytest's status.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence

from tests.localenv import ROOT

SCENARIO = "tests/reliability/test_crash_storm.py"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.storm", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--new", type=int, default=20, help="Clusters created during the storm")
    parser.add_argument("--old", type=int, default=10, help="Clusters deleted during the storm")
    parser.add_argument("--keep", type=int, default=2, help="Clusters living through it")
    parser.add_argument(
        "--seconds", type=float, default=120.0, help="how long operators are killed"
    )
    parser.add_argument("--every", type=float, default=3.0, help="seconds between two kills")
    args = parser.parse_args(argv)
    env = {
        **os.environ,
        "G8S_STORM_NEW": str(args.new),
        "G8S_STORM_OLD": str(args.old),
        "G8S_STORM_KEEP": str(args.keep),
        "G8S_STORM_SECONDS": str(args.seconds),
        "G8S_STORM_EVERY": str(args.every),
    }
    command = [sys.executable, "-m", "pytest", SCENARIO, "-s", "-q", "-p", "no:cacheprovider"]
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
