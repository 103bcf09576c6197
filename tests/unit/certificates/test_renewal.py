"""The renewal schedule: which Certificates are due, when the loop looks next, and that
it stamps a due Certificate once per interval without holding its body."""

import asyncio
import contextlib
from datetime import datetime
from typing import Any, cast

import pytest

from operators.certificates import renewal
from operators.certificates.context import CertificatesContext, CertificatesSettings
from shared.api import certificates as catalogue
from shared.kube import ObjectRef
from tests.unit.certificates.fakes import FakeKube, at, certificate_body

REF = ObjectRef("g8s.io/v1alpha1", "Certificate", "c1-api", "ns1")


def entry(renewal_time: str | None, not_before: datetime | None = None) -> renewal.Entry:
    parsed = datetime.fromisoformat(renewal_time) if renewal_time else None
    return renewal.Entry(REF, parsed, not_before)


def test_due_entries_and_the_next_look() -> None:
    soon, later = entry("2030-01-01T00:00:30+00:00"), entry("2030-01-01T05:00:00+00:00")
    past, unknown = entry("2029-12-31T00:00:00+00:00"), entry(None)
    assert renewal.due([soon, later], at(0), 60) == ([], 30)
    assert renewal.due([later], at(0), 60) == ([], 60)
    assert renewal.due([past, soon, unknown], at(0), 60) == ([past], 30)
    assert renewal.due([unknown], at(0), 60) == ([], 60)


def test_a_stamped_entry_waits_for_its_not_before() -> None:
    stamped = entry("2029-12-31T00:00:00+00:00", not_before=at(0.01))
    assert renewal.due([stamped], at(0), 60) == ([], 36)
    assert renewal.due([stamped], at(0.01), 60) == ([stamped], 60)


def body_with(renewal_time: str | None, **meta: Any) -> dict[str, Any]:
    body = certificate_body()
    body["metadata"].update(meta)
    if renewal_time is not None:
        body["status"] = {"renewalTime": renewal_time}
    return body


def test_the_schedule_keeps_a_reference_and_a_time_not_the_body() -> None:
    schedule = renewal.Schedule()
    schedule.note(body_with("2030-01-01T00:00:30Z"))
    assert schedule.changed.is_set()
    (kept,) = schedule.entries.values()
    assert kept == renewal.Entry(REF, at(0) + (at(1) - at(0)) / 120)
    schedule.changed.clear()
    schedule.note(body_with("2030-01-01T00:00:30Z"))  # the same time: nothing to wake
    assert not schedule.changed.is_set()
    schedule.note(body_with("2030-01-01T00:00:30Z", deletionTimestamp="2030-01-01T00:00:00Z"))
    assert schedule.entries == {}
    schedule.note(body_with(None))
    schedule.forget("ns1", "c1-api")
    assert schedule.entries == {}


def test_only_a_time_before_the_next_look_wakes_the_loop() -> None:
    schedule = renewal.Schedule(next_look=datetime.fromisoformat("2030-01-01T00:01:00+00:00"))
    schedule.note(body_with("2030-01-01T05:00:00Z"))  # after the next look: it will be seen then
    schedule.note(body_with(None, name="c1-etcd"))  # no time yet: waits for an event
    assert not schedule.changed.is_set()
    assert len(schedule.entries) == 2
    schedule.note(body_with("2030-01-01T00:00:30Z", name="c1-kubelet"))
    assert schedule.changed.is_set()


def test_a_burst_of_new_certificates_costs_the_loop_one_look(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The loop goes through every entry on each look: noting 500 Certificates
    due in a day, while it sleeps, must not make it look 500 times."""
    looks = 0
    due = renewal.due

    def counted(*args: Any) -> tuple[list[renewal.Entry], float]:
        nonlocal looks
        looks += 1
        return due(*args)

    async def scenario() -> None:
        schedule = renewal.Schedule()
        task = asyncio.create_task(renewal.run(schedule, context(FakeKube())))
        await asyncio.sleep(0.05)
        for i in range(500):
            schedule.note(body_with("2030-01-02T00:00:00Z", name=f"c{i}-api"))
            await asyncio.sleep(0)  # the loop gets its turn after each event, as under kopf
        await asyncio.sleep(0.05)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    monkeypatch.setattr(renewal, "due", counted)
    asyncio.run(scenario())
    assert looks == 1


def context(kube: FakeKube, interval: float = 60.0) -> CertificatesContext:
    return cast(
        CertificatesContext,
        type(
            "Ctx",
            (),
            {
                "client": lambda _: kube,
                "clock": staticmethod(lambda: at(0)),
                "settings": CertificatesSettings(vault_addr="x", renewal_check_interval=interval),
            },
        )(),
    )


async def run_for(schedule: renewal.Schedule, ctx: CertificatesContext, seconds: float) -> None:
    task = asyncio.create_task(renewal.run(schedule, ctx))
    await asyncio.sleep(seconds)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def test_a_due_certificate_is_stamped_once_per_interval() -> None:
    kube = FakeKube()
    body = body_with("2029-12-31T00:00:00Z")
    kube.apply(body)
    schedule = renewal.Schedule()
    schedule.note(body)
    asyncio.run(run_for(schedule, context(kube, interval=7.0), 0.2))
    stored: dict[str, Any] = kube.objects[("Certificate", "ns1", "c1-api")]
    assert catalogue.RENEWAL_DUE_ANNOTATION in stored["metadata"]["annotations"]
    assert kube.applied == 2  # the test's own apply, then one stamp in 0.2 s
    (kept,) = schedule.entries.values()
    assert kept.not_before == at(0) + (at(1) - at(0)) * 7 / 3600


def test_a_certificate_not_due_is_left_alone() -> None:
    kube = FakeKube()
    body = body_with("2030-01-01T00:00:05Z")
    kube.apply(body)
    schedule = renewal.Schedule()
    schedule.note(body)
    asyncio.run(run_for(schedule, context(kube), 0.2))
    assert kube.applied == 1


def test_a_certificate_gone_meanwhile_is_not_stamped() -> None:
    kube = FakeKube()
    schedule = renewal.Schedule()
    schedule.note(body_with("2029-12-31T00:00:00Z"))
    asyncio.run(run_for(schedule, context(kube), 0.2))
    assert kube.applied == 0
