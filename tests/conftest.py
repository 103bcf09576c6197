"""Shared pytest wiring: tier markers by directory, and the local environment fixture.

Every test is marked with its tier from the directory it lives in
(``tests/unit`` -> ``unit``, ``tests/integration`` -> ``integration``,
``tests/e2e`` -> ``e2e``, ``tests/reliability`` -> ``reliability``; the
markers are declared in pyproject.toml), so
``pytest -m unit`` selects a tier wherever tests are run from.

``crds`` installs the five CRDs into it once per session, and ``namespace``
gives each test a fresh namespace of its own.

``local_env`` (session scope) brings up a dedicated local environment named
``g8s-test`` (or ``$G8S_TEST_ENV_NAME``), separate from a developer's
``make up``, and tears it down at the end of the session. A missing tool is a
failure with a clear message, never a skip. Set ``G8S_TEST_KEEP_ENV=1`` to
reuse a running test environment and leave it running afterwards.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from shared.api.kinds import ALL_KINDS
from tests import localenv

TESTS_DIR = Path(__file__).resolve().parent
TIERS = ("unit", "integration", "e2e", "reliability")
TEST_ENV_NAME = os.environ.get("G8S_TEST_ENV_NAME") or "g8s-test"
# Each test's reports by phase ("setup", "call", "teardown"), for fixtures that
# add diagnostics when the test they wrap failed.
REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    item.stash.setdefault(REPORTS, {})[report.when] = report
    return report


def failed(item: pytest.Item) -> bool:
    return any(r.failed for r in item.stash.get(REPORTS, {}).values())


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


@pytest.fixture(scope="session")
def crds(local_env: localenv.LocalEnv) -> Path:
    """The five g8s CRDs, installed (server-side apply) and Established."""
    crd_dir = TESTS_DIR.parent / "crds"
    local_env.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crd_dir))
    names = [f"crd/{kind.crd_name}" for kind in ALL_KINDS]
    local_env.kubectl("wait", "--for=condition=Established", "--timeout=60s", *names)
    return crd_dir


@pytest.fixture
def namespace(
    local_env: localenv.LocalEnv, crds: Path, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A namespace of this test's own, with the CRDs installed; deleted afterwards."""
    stem = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{stem}-{secrets.token_hex(3)}"
    local_env.kubectl("create", "namespace", name)
    yield name
    local_env.kubectl("delete", "namespace", name, "--wait=false", check=False)
