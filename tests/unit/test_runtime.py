"""kopf settings derive from the operator's identity, so operators never collide;
each process draws its own peering priority, so replicas never freeze each other;
``run`` reads an operator's own settings once and hands them to its handlers and
its context."""

from collections.abc import Mapping
from typing import Any

import kopf
import pytest

from shared import logs
from shared.api.kinds import ALL_KINDS
from shared.identity import OperatorIdentity
from shared.metrics import OperatorMetrics
from shared.runtime import (
    DEFAULT_WORKER_THREADS,
    PEERING_PRIORITIES,
    OperatorContext,
    add_login,
    kopf_settings,
    run,
)
from shared.settings import RuntimeSettings


def test_settings_use_the_identity() -> None:
    settings = kopf_settings(OperatorIdentity("certificates"), RuntimeSettings())
    assert settings.persistence.finalizer == "certificates.g8s.io/finalizer"
    assert isinstance(settings.persistence.progress_storage, kopf.AnnotationsProgressStorage)
    assert settings.persistence.progress_storage.prefix == "certificates.g8s.io"
    assert isinstance(settings.persistence.diffbase_storage, kopf.AnnotationsDiffBaseStorage)
    assert settings.persistence.diffbase_storage.prefix == "certificates.g8s.io"
    assert settings.peering.name == "g8s-certificates"
    assert settings.peering.standalone is True
    assert settings.peering.clusterwide is True


def test_kopf_tries_a_request_again_for_longer_than_an_api_server_restart() -> None:
    settings = kopf_settings(OperatorIdentity("cluster"), RuntimeSettings())
    # The reliability scenario takes the API server away for 30 s, then starts it.
    backoffs = settings.networking.error_backoffs
    assert isinstance(backoffs, list)
    assert sum(backoffs) >= 120


def test_label_selectors_go_to_the_watch_settings() -> None:
    settings = kopf_settings(
        OperatorIdentity("kvm"),
        RuntimeSettings(),
        label_selectors={("", "v1", "secrets"): "g8s.io/certificate"},
    )
    secrets = kopf.Resource("", "v1", "secrets", namespaced=True)
    assert settings.watching.label_selectors.collect(secrets) == ["g8s.io/certificate"]
    pods = kopf.Resource("", "v1", "pods", namespaced=True)
    assert settings.watching.label_selectors.collect(pods) == []


def test_peering_and_namespaces_from_runtime_settings() -> None:
    settings = kopf_settings(
        OperatorIdentity("etcd"), RuntimeSettings(peering=True, namespaces=("a",))
    )
    assert settings.peering.standalone is False
    assert settings.peering.clusterwide is False


def test_finalizers_and_prefixes_distinct_across_operators() -> None:
    all_settings = [
        kopf_settings(OperatorIdentity(k.operator), RuntimeSettings()) for k in ALL_KINDS
    ]
    finalizers = {s.persistence.finalizer for s in all_settings}
    peerings = {s.peering.name for s in all_settings}
    assert len(finalizers) == len(peerings) == len(ALL_KINDS)


def test_operator_registry_gets_a_login_handler() -> None:
    # kopf adds its default login handlers only to its global registry; a
    # registry of our own without one cannot authenticate at all.
    registry = kopf.OperatorRegistry()
    add_login(registry)
    handlers = list(registry._activities.get_all_handlers())
    assert [(h.id, str(h.activity)) for h in handlers] == [("kubernetes-client", "authentication")]


def test_each_process_draws_its_own_peering_priority() -> None:
    # Peers sharing the highest priority all pause in kopf: the replicas of one
    # Deployment (same environment) must not share one.
    drawn: list[int] = []

    def draw(bound: int) -> int:
        drawn.append(bound)
        return 41

    settings = kopf_settings(OperatorIdentity("etcd"), RuntimeSettings(peering=True), draw)
    assert settings.peering.priority == 41
    assert drawn == [PEERING_PRIORITIES]
    priorities = {
        kopf_settings(OperatorIdentity("etcd"), RuntimeSettings(peering=True)).peering.priority
        for _ in range(3)
    }
    assert len(priorities) == 3
    assert all(0 <= p < PEERING_PRIORITIES for p in priorities)


def test_run_reads_the_operator_settings_once_for_handlers_and_context(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read: list[Mapping[str, str]] = []
    seen: dict[str, Any] = {}

    def load_settings(environ: Mapping[str, str]) -> str:
        read.append(environ)
        return environ["G8S_TEST_VALUE"]

    def register(registry: kopf.OperatorRegistry, settings: str) -> None:
        seen["register"] = settings

    def make_context(
        identity: OperatorIdentity,
        runtime: RuntimeSettings,
        metrics: OperatorMetrics,
        settings: str,
    ) -> OperatorContext:
        seen["context"] = settings
        return OperatorContext(identity, runtime, metrics)

    # No global logging setup in a test; kopf.run's arguments are kept instead of run.
    monkeypatch.setattr(logs, "configure", lambda **_: None)
    monkeypatch.setattr(kopf, "run", seen.update)
    environ = {"G8S_TEST_VALUE": "v1", "G8S_NAMESPACES": "a"}
    run(OperatorIdentity("etcd"), load_settings, register, make_context, environ)
    assert read == [environ]
    assert seen["register"] == seen["context"] == "v1"
    memo = seen["memo"]
    assert isinstance(memo, OperatorContext)
    assert memo.runtime.namespaces == ("a",)


@pytest.mark.parametrize(
    ("environ", "own", "threads"),
    [({}, None, DEFAULT_WORKER_THREADS), ({}, 16, 16), ({"G8S_WORKER_THREADS": "3"}, 16, 3)],
)
def test_worker_threads_are_the_setting_else_the_operators_default(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], own: int | None, threads: int
) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(logs, "configure", lambda **_: None)
    monkeypatch.setattr(kopf, "run", seen.update)

    def make_context(
        identity: OperatorIdentity, runtime: RuntimeSettings, metrics: OperatorMetrics, _: None
    ) -> OperatorContext:
        return OperatorContext(identity, runtime, metrics)

    chosen = DEFAULT_WORKER_THREADS if own is None else own
    run(
        OperatorIdentity("etcd"),
        lambda _: None,
        lambda *_: None,
        make_context,
        environ,
        worker_threads=chosen,
    )
    assert seen["memo"].runtime.worker_threads == threads
    startup = [h.id for h in seen["registry"]._activities.get_all_handlers()]
    assert "worker-threads" in startup
