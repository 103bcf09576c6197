"""A reconciliation as an ordered list of named steps, run by one wrapper.

The wrapper gives every step the same logging, timing, metrics and error
translation (cluster-api's ``alwaysReconcile`` shape): the first failing step
stops the run and its translated error is the outcome. Synchronous steps run
in a worker thread, since the Kubernetes client and hvac block (STYLE 13).
"""

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from shared.errors import Verdict, translate
from shared.metrics import OperatorMetrics

C = TypeVar("C")


@dataclass(frozen=True)
class Step(Generic[C]):
    """One named step; ``run`` takes the reconciliation's context object."""

    name: str
    run: Callable[[C], Awaitable[None] | None]


@dataclass
class Outcome:
    completed: list[str] = field(default_factory=list)
    failed_step: str | None = None
    verdict: Verdict | None = None

    @property
    def ok(self) -> bool:
        return self.verdict is None


@dataclass(frozen=True)
class RetryPolicy:
    attempt: int = 0
    base: float = 5.0
    ceiling: float = 300.0


async def run_steps(
    steps: Sequence[Step[C]],
    context: C,
    *,
    kind: str,
    metrics: OperatorMetrics,
    log: Any,
    policy: RetryPolicy,
) -> Outcome:
    outcome = Outcome()
    for step in steps:
        started = time.perf_counter()
        try:
            await _call(step, context)
        except Exception as exc:
            verdict = translate(
                exc, attempt=policy.attempt, base=policy.base, ceiling=policy.ceiling
            )
            metrics.duration.labels(kind, step.name).observe(time.perf_counter() - started)
            result = "retry" if verdict.retry else "invalid"
            metrics.reconciliations.labels(kind, step.name, result).inc()
            metrics.errors.labels(kind, step.name, verdict.reason).inc()
            log.warning(
                "step failed",
                step=step.name,
                reason=verdict.reason,
                message=verdict.message,
                retry=verdict.retry,
                delay=verdict.delay,
            )
            outcome.failed_step = step.name
            outcome.verdict = verdict
            return outcome
        elapsed = time.perf_counter() - started
        metrics.duration.labels(kind, step.name).observe(elapsed)
        metrics.reconciliations.labels(kind, step.name, "ok").inc()
        log.debug("step done", step=step.name, seconds=round(elapsed, 4))
        outcome.completed.append(step.name)
    return outcome


async def _call(step: Step[C], context: C) -> None:
    if inspect.iscoroutinefunction(step.run):
        await step.run(context)
        return
    result = await asyncio.to_thread(step.run, context)
    if inspect.isawaitable(result):
        await result
