"""Fixtures of the network integration tests on the real API server.

``crds`` (tests/conftest.py): the ClusterNetwork CRD installed in the test environment.
``namespaces``: a fresh namespace for the networks and one for the
allocation records, per test. ``start_operator``: starts the network
operator as a real process (``python -m operators.network``) watching the
networks' namespace; it can be called again after the previous one stopped
(a restart). Each operator's log is printed when the test fails.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.localenv import LocalEnv
from tests.operators import RunningOperator, running_operator

StartOperator = Callable[[], AbstractContextManager[RunningOperator]]


@dataclass(frozen=True)
class Namespaces:
    networks: str
    records: str


@pytest.fixture
def namespaces(local_env: LocalEnv, crds: Path) -> Iterator[Namespaces]:
    suffix = secrets.token_hex(3)
    made = Namespaces(f"net-{suffix}", f"net-records-{suffix}")
    for name in (made.networks, made.records):
        local_env.kubectl("create", "namespace", name)
    yield made
    for name in (made.networks, made.records):
        local_env.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def start_operator(
    request: pytest.FixtureRequest, local_env: LocalEnv, namespaces: Namespaces, tmp_path: Path
) -> Iterator[StartOperator]:
    env = {
        **local_env.env(),
        "G8S_RETRY_DELAY": "1",
        "G8S_MAX_RETRY_DELAY": "4",
        "G8S_LOG_LEVEL": "INFO",
        "G8S_NETWORK_ALLOCATION_NAMESPACE": namespaces.records,
        # The environment's hosts are simulated: no agent runs on them.
        "G8S_NETWORK_REQUIRE_HOSTS": "false",
        "G8S_NETWORK_HOSTS_INTERVAL": "60",
    }
    started: list[RunningOperator] = []

    @contextlib.contextmanager
    def start() -> Iterator[RunningOperator]:
        log_dir = tmp_path / f"run{len(started)}"
        log_dir.mkdir()
        with running_operator(
            "network", env=env, namespace=namespaces.networks, log_dir=log_dir
        ) as op:
            started.append(op)
            yield op

    yield start
    report = getattr(request.node, "rep_call", None)
    if report is None or report.failed:
        for op in started:
            print(f"--- network operator log {op.log_path} (last 60 lines) ---")
            print("\n".join(op.log().splitlines()[-60:]))


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)
