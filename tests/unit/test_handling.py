"""The shared reconcile body: pause, invalid spec, failed and successful steps.

Runs ``shared.handling.reconcile`` directly with a plain dict as kopf's patch
and a fixed clock; no API server is involved.
"""

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

import kopf
import pytest

from shared import fields
from shared.api import conditions as c
from shared.api.kinds import ETCD_CLUSTER
from shared.conditions import Observation, get
from shared.errors import ApiError
from shared.handling import Reconciler, observing, reconcile, register_bound, unchanged
from shared.identity import OperatorIdentity
from shared.metrics import OperatorMetrics
from shared.runtime import OperatorContext
from shared.settings import RuntimeSettings
from shared.status import Report
from shared.steps import Outcome, Step

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def _ctx() -> OperatorContext:
    return OperatorContext(
        OperatorIdentity("etcd"),
        RuntimeSettings(retry_delay=3),
        OperatorMetrics("etcd"),
        clock=lambda: NOW,
    )


def _body(annotations: dict[str, str] | None = None, replicas: Any = 3) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "c1",
            "namespace": "ns",
            "generation": 5,
            "annotations": annotations or {},
        },
        "spec": {"replicas": replicas},
        "status": {"observedGeneration": 4, "phase": "Running"},
    }


def _parse(body: Mapping[str, Any]) -> int:
    return fields.integer(body, "spec.replicas", minimum=1, maximum=5)


def _reconciler(steps: tuple[Step[int], ...]) -> Reconciler[int, int]:
    def report(spec: int, _: int, outcome: Outcome) -> Report:
        if not outcome.ok:
            return Report(
                phase="Running", observations=(Observation.false(c.MEMBERS_HEALTHY, "Unknown"),)
            )
        return Report(
            phase="Running",
            observations=(Observation.true(c.READY, "Healthy"),),
            fields={"readyReplicas": spec},
        )

    return Reconciler(ETCD_CLUSTER, _parse, lambda spec, body: spec, steps, report)


def _reconcile(reconciler: Reconciler[Any, Any], body: dict[str, Any]) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    asyncio.run(reconcile(reconciler, body=body, patch=patch, ctx=_ctx(), retry=0))
    return dict(patch["status"])


def test_success_records_generation_fields_and_ready() -> None:
    status = _reconcile(_reconciler((Step("noop", lambda spec: None),)), _body())
    assert status["observedGeneration"] == 5
    assert status["readyReplicas"] == 3
    assert status["conditions"][0]["type"] == c.READY
    assert status["conditions"][0]["status"] == "True"
    assert get(status["conditions"], c.PAUSED)["status"] == "False"  # type: ignore[index]


def test_paused_object_is_not_reconciled() -> None:
    ran: list[int] = []
    status = _reconcile(_reconciler((Step("mark", ran.append),)), _body({"g8s.io/paused": "true"}))
    assert ran == []
    assert "observedGeneration" not in status
    assert get(status["conditions"], c.PAUSED)["status"] == "True"  # type: ignore[index]


def test_invalid_spec_is_reported_without_retry() -> None:
    status = _reconcile(_reconciler(()), _body(replicas="three"))
    ready = status["conditions"][0]
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert ready["message"] == "spec.replicas: must be an integer, got 'three'"
    assert status["phase"] == "Failed"
    assert status["observedGeneration"] == 5


def test_failed_step_writes_status_then_asks_kopf_to_retry() -> None:
    def conflict(_: int) -> None:
        raise ApiError(409, "Conflict", "object modified")

    patch: dict[str, Any] = {}
    with pytest.raises(kopf.TemporaryError) as excinfo:
        asyncio.run(
            reconcile(
                _reconciler((Step("apply", conflict),)),
                body=_body(),
                patch=patch,
                ctx=_ctx(),
                retry=0,
            )
        )
    assert excinfo.value.delay == 3
    ready = patch["status"]["conditions"][0]
    assert (ready["status"], ready["reason"]) == ("False", "Conflict")
    assert "step apply" in ready["message"]
    assert get(patch["status"]["conditions"], c.MEMBERS_HEALTHY) is not None


def test_observing_reconciler_keeps_ready_unknown() -> None:
    status = _reconcile(observing(ETCD_CLUSTER, _parse), _body())
    ready = status["conditions"][0]
    assert (ready["status"], ready["reason"]) == ("Unknown", "Observed")
    assert status["observedGeneration"] == 5


def test_resync_writes_nothing_when_status_is_unchanged() -> None:
    current = {"vni": 42, "hostsReady": 3, "conditions": [{"type": "Ready", "status": "True"}]}
    assert unchanged(current, {"vni": 42, "hostsReady": 3})
    assert unchanged(current, {})
    assert not unchanged(current, {"hostsReady": 2})
    assert not unchanged(current, {"conditions": [{"type": "Ready", "status": "False"}]})


def test_resync_leaves_an_object_being_deleted_alone() -> None:
    registry = kopf.OperatorRegistry()

    def refuse(ctx: Any) -> Any:
        raise AssertionError("reconciled an object being deleted")

    register_bound(registry, ETCD_CLUSTER, refuse, resync=30)
    timer = next(h for h in registry._spawning.get_all_handlers() if h.id == "resync")
    body = _body()
    body["metadata"]["deletionTimestamp"] = "2030-01-01T00:00:00Z"
    patch: dict[str, Any] = {}
    asyncio.run(cast(Any, timer.fn)(body=body, patch=patch, memo=object()))
    assert patch == {}


def test_resync_drops_its_patch_when_the_object_is_deleted_meanwhile() -> None:
    registry = kopf.OperatorRegistry()
    body = _body()

    def parse_then_deleted(obj: Mapping[str, Any]) -> Any:
        # The delete event reaches kopf's live body while the timer runs.
        body["metadata"]["deletionTimestamp"] = "2030-01-01T00:00:00Z"
        return _parse(obj)

    register_bound(
        registry, ETCD_CLUSTER, lambda ctx: observing(ETCD_CLUSTER, parse_then_deleted), resync=30
    )
    timer = next(h for h in registry._spawning.get_all_handlers() if h.id == "resync")
    patch: dict[str, Any] = {}
    asyncio.run(cast(Any, timer.fn)(body=body, patch=patch, memo=_ctx()))
    assert patch == {}
    # Without the delete, the same run writes its status.
    register_bound(
        registry := kopf.OperatorRegistry(),
        ETCD_CLUSTER,
        lambda ctx: observing(ETCD_CLUSTER, _parse),
        resync=30,
    )
    timer = next(h for h in registry._spawning.get_all_handlers() if h.id == "resync")
    asyncio.run(cast(Any, timer.fn)(body=_body(), patch=patch, memo=_ctx()))
    assert patch["status"]["observedGeneration"] == 5


def test_register_bound_adds_reconcile_handlers_and_a_resync_timer() -> None:
    registry = kopf.OperatorRegistry()
    register_bound(registry, ETCD_CLUSTER, lambda ctx: observing(ETCD_CLUSTER, _parse), resync=30)
    changing = {h.id for h in registry._changing.get_all_handlers()}
    timers = [h for h in registry._spawning.get_all_handlers() if h.id == "resync"]
    assert changing == {"reconcile"}
    assert len(timers) == 1
