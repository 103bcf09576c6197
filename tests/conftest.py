"""Shared pytest wiring: tier markers by directory, and the local environment fixture.

Every test is marked with its tier from the directory it lives in
(``tests/unit`` -> ``unit``, ``tests/integration`` -> ``integration``,
``tests/e2e`` -> ``e2e``; the markers are declared in pyproject.toml), so
``pytest -m unit`` selects a tier wherever tests are run from.

``local_env`` (session scope) brings up a dedicated local environment named
``g8s-test`` (or ``$G8S_TEST_ENV_NAME``), separate from a developer's
``make up``, and tears it down at the end of the session. A missing tool is a
failure with a clear message, never a skip. Set ``G8S_TEST_KEEP_ENV=1`` to
reuse a running test environment and leave it running afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import localenv

TESTS_DIR = Path(__file__).resolve().parent
TIERS = ("unit", "integration", "e2e")
TEST_ENV_NAME = os.environ.get("G8S_TEST_ENV_NAME") or "g8s-test"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with the tier of the directory it lives in."""
    for item in items:
        try:
            tier = item.path.resolve().relative_to(TESTS_DIR).parts[0]
        except ValueError:
            continue
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
def local_env() -> Iterator[localenv.LocalEnv]:
    """A running local environment: real API server, simulated hosts, OpenBao."""
    keep = os.environ.get("G8S_TEST_KEEP_ENV") == "1"
    missing = localenv.missing_tools()
    if missing:
        pytest.fail(
            f"the local environment needs {', '.join(missing)} in {localenv.BIN}; "
            "run `make tools` (make test-integration and make test do it)",
            pytrace=False,
        )
    if not keep:
        localenv.down(TEST_ENV_NAME)  # leftovers of an interrupted run
    try:
        env = localenv.up(TEST_ENV_NAME)
    except localenv.LocalEnvError as exc:
        localenv.down(TEST_ENV_NAME)
        pytest.fail(
            f"could not start the local environment {TEST_ENV_NAME!r}: {exc}", pytrace=False
        )
    try:
        yield env
    finally:
        if not keep:
            localenv.down(TEST_ENV_NAME)
