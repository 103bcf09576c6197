"""kopf settings derive from the operator's identity, so operators never collide;
each process draws its own peering priority, so replicas never freeze each other."""

import kopf

from shared.api.kinds import ALL_KINDS
from shared.identity import OperatorIdentity
from shared.runtime import PEERING_PRIORITIES, add_login, kopf_settings
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
