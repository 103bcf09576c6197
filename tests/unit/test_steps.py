"""The step runner: order, first failure stops, metrics and verdicts recorded."""

import asyncio
import threading
from typing import Any

from prometheus_client import generate_latest

from shared.errors import ApiError, InvalidSpec
from shared.metrics import OperatorMetrics
from shared.steps import RetryPolicy, Step, run_steps


class _Log:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **kw: Any) -> None:
        self.events.append((event, kw))

    def debug(self, event: str, **kw: Any) -> None:
        self.events.append((event, kw))


def _run(
    steps: list[Step[list[str]]], metrics: OperatorMetrics | None = None
) -> tuple[Any, list[str]]:
    seen: list[str] = []
    outcome = asyncio.run(
        run_steps(
            steps,
            seen,
            kind="EtcdCluster",
            metrics=metrics or OperatorMetrics("etcd"),
            log=_Log(),
            policy=RetryPolicy(attempt=1, base=2, ceiling=10),
        )
    )
    return outcome, seen


def test_steps_run_in_order_sync_in_a_thread_async_in_the_loop() -> None:
    threads: list[bool] = []

    def sync_step(seen: list[str]) -> None:
        threads.append(threading.current_thread() is threading.main_thread())
        seen.append("sync")

    async def async_step(seen: list[str]) -> None:
        seen.append("async")

    outcome, seen = _run([Step("a", sync_step), Step("b", async_step)])
    assert outcome.ok
    assert outcome.completed == ["a", "b"]
    assert seen == ["sync", "async"]
    assert threads == [False]


def test_first_failure_stops_and_is_translated() -> None:
    def conflict(_: list[str]) -> None:
        raise ApiError(409, "Conflict", "modified")

    def never(seen: list[str]) -> None:
        seen.append("never")

    outcome, seen = _run(
        [Step("ok", lambda s: None), Step("apply", conflict), Step("later", never)]
    )
    assert outcome.completed == ["ok"]
    assert outcome.failed_step == "apply"
    assert outcome.verdict is not None
    assert (outcome.verdict.retry, outcome.verdict.delay, outcome.verdict.reason) == (
        True,
        2,
        "Conflict",
    )
    assert seen == []


def test_metrics_by_kind_step_and_result() -> None:
    metrics = OperatorMetrics("etcd")

    def invalid(_: list[str]) -> None:
        raise InvalidSpec("spec.replicas", "bad")

    _run([Step("members", lambda s: None), Step("parse-tls", invalid)], metrics)
    text = generate_latest(metrics.registry).decode()
    assert 'g8s_reconciliations_total{kind="EtcdCluster",result="ok",step="members"} 1.0' in text
    assert (
        'g8s_reconciliations_total{kind="EtcdCluster",result="invalid",step="parse-tls"} 1.0'
        in text
    )
    assert (
        'g8s_reconcile_errors_total{kind="EtcdCluster",reason="InvalidSpec",step="parse-tls"} 1.0'
        in text
    )
    assert 'g8s_reconcile_duration_seconds_count{kind="EtcdCluster",step="members"} 1.0' in text
