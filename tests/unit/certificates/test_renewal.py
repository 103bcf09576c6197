"""The per-certificate renewal timer: when it sleeps, and that it stamps the object when due."""

import asyncio
from collections.abc import Awaitable
from typing import Any, cast

from operators.certificates import renewal
from operators.certificates.context import CertificatesContext, CertificatesSettings
from shared.api import certificates as catalogue
from tests.unit.certificates.fakes import FakeKube, at, certificate_body


def test_next_wake() -> None:
    assert renewal.next_wake({}, at(0), 60) == 60
    assert renewal.next_wake({"renewalTime": "2030-01-01T00:00:30Z"}, at(0), 60) == 30
    assert renewal.next_wake({"renewalTime": "2030-01-01T05:00:00Z"}, at(0), 60) == 60
    assert renewal.next_wake({"renewalTime": "2029-12-31T00:00:00Z"}, at(0), 60) is None
    assert renewal.next_wake({"renewalTime": "garbage"}, at(0), 60) == 60


class Stop:
    """Stops the daemon after ``waits`` waits; records how long it was asked to sleep."""

    def __init__(self, waits: int) -> None:
        self.left = waits
        self.slept: list[float | None] = []

    def __bool__(self) -> bool:
        return self.left <= 0

    def wait(self, timeout: float | None = None) -> Awaitable[bool]:
        self.slept.append(timeout)
        self.left -= 1
        return asyncio.sleep(0, result=self.left <= 0)


def test_due_certificate_is_stamped_once_per_interval() -> None:
    kube = FakeKube()
    body = certificate_body()
    body["status"] = {"renewalTime": "2029-12-31T00:00:00Z"}
    kube.apply(body)
    ctx = cast(
        CertificatesContext,
        type(
            "Ctx",
            (),
            {
                "client": lambda _: kube,
                "clock": staticmethod(lambda: at(0)),
                "settings": CertificatesSettings(vault_addr="x", renewal_check_interval=7.0),
            },
        )(),
    )
    stop = Stop(waits=1)
    asyncio.run(renewal.schedule(body, ctx, stop))
    stored: dict[str, Any] = kube.objects[("Certificate", "ns1", "c1-api")]
    assert catalogue.RENEWAL_DUE_ANNOTATION in stored["metadata"]["annotations"]
    assert stop.slept == [7.0]


def test_not_due_certificate_sleeps_until_renewal() -> None:
    kube = FakeKube()
    body = certificate_body()
    body["status"] = {"renewalTime": "2030-01-01T00:00:05Z"}
    ctx = cast(
        CertificatesContext,
        type(
            "Ctx",
            (),
            {
                "client": lambda _: kube,
                "clock": staticmethod(lambda: at(0)),
                "settings": CertificatesSettings(vault_addr="x"),
            },
        )(),
    )
    stop = Stop(waits=1)
    asyncio.run(renewal.schedule(body, ctx, stop))
    assert stop.slept == [5.0]
    assert kube.applied == 0
