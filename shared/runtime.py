"""Running one operator: logging, metrics, kopf settings, then kopf itself.

``run(identity, register, make_context)`` is what every ``__main__`` calls.
It reads ``RuntimeSettings`` from the environment, configures structlog once,
starts the metrics endpoint, builds kopf settings from the operator's
identity (so no two operators share a finalizer, annotations or peering) and
runs kopf with the operator's context as memo (no globals).
"""

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import kopf

from shared import logs
from shared.conditions import Clock, utc_now
from shared.identity import OperatorIdentity
from shared.kube import Kube
from shared.metrics import OperatorMetrics
from shared.settings import RuntimeSettings, load

Ctx = TypeVar("Ctx", bound="OperatorContext")


@dataclass
class OperatorContext:
    """What every handler of one operator may use; operators extend it."""

    identity: OperatorIdentity
    # The kit's settings; ``settings`` is left to each operator's own.
    runtime: RuntimeSettings
    metrics: OperatorMetrics
    clock: Clock = field(default=utc_now)
    # None only where nothing talks to the API server (tests of the kit).
    kube: Kube | None = None
    # The last child state sent to each owner (shared.owners), so that
    # repeated events of an unchanged child cost no API request.
    sent: dict[str, str] = field(default_factory=dict)

    def client(self) -> Kube:
        if self.kube is None:
            raise RuntimeError(
                f"the {self.identity.name} operator runs without a Kubernetes client"
            )
        return self.kube


# kopf pauses every peer while the highest priority is shared ("possibly
# conflicting operators"), so the replicas of one Deployment, which share their
# environment, would all stand still. Each process draws a priority of its own:
# the highest acts, the others wait and take over when it leaves.
PEERING_PRIORITIES = 2**31


def kopf_settings(
    identity: OperatorIdentity,
    settings: RuntimeSettings,
    draw: Callable[[int], int] = secrets.randbelow,
) -> kopf.OperatorSettings:
    result = kopf.OperatorSettings()
    result.persistence.finalizer = identity.finalizer
    result.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=identity.annotation_prefix
    )
    result.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=identity.annotation_prefix, key="last-handled-configuration"
    )
    result.peering.name = identity.peering_name
    result.peering.standalone = not settings.peering
    result.peering.clusterwide = not settings.namespaces
    result.peering.priority = draw(PEERING_PRIORITIES)
    # kopf posts k8s events for its per-object log lines; warnings and up only,
    # so a busy operator does not flood the events of every object.
    result.posting.level = 30
    result.networking.error_backoffs = [1, 2, 5, 10, 20]
    result.watching.server_timeout = 300
    result.watching.client_timeout = 330
    result.queueing.error_delays = [1, 2, 5, 10, 30, 60]
    return result


def add_login(registry: kopf.OperatorRegistry) -> None:
    """Authenticate as the kubernetes client does (in-cluster, else $KUBECONFIG).

    kopf puts its own login handlers only into its default registry; an
    operator with a registry of its own has none and cannot connect.
    """

    @kopf.on.login(registry=registry, id="kubernetes-client")
    def _login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return kopf.login_via_client(**kwargs)


def run(
    identity: OperatorIdentity,
    register: Callable[[kopf.OperatorRegistry], None],
    make_context: Callable[[OperatorIdentity, RuntimeSettings, OperatorMetrics], Any],
    environ: dict[str, str] | None = None,
) -> None:
    env = dict(os.environ if environ is None else environ)
    settings = load(RuntimeSettings, env)
    logs.configure(operator=identity.name, log_format=settings.log_format, level=settings.log_level)
    log = logs.get_logger("g8s.runtime")
    metrics = OperatorMetrics(identity.name)
    if settings.metrics_port:
        metrics.serve(settings.metrics_port, settings.metrics_address)
    registry = kopf.OperatorRegistry()
    register(registry)
    add_login(registry)
    context = make_context(identity, settings, metrics)
    log.info(
        "starting operator",
        namespaces=list(settings.namespaces) or "all",
        metrics_port=settings.metrics_port or None,
        peering=settings.peering,
    )
    liveness = f"http://0.0.0.0:{settings.health_port}/healthz" if settings.health_port else None
    kopf.run(
        registry=registry,
        settings=kopf_settings(identity, settings),
        memo=context,
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
        standalone=not settings.peering,
        # kopf makes peering mandatory whenever a name is passed here (its
        # watches then wait for the peering CRD); the settings carry the name.
        peering_name=identity.peering_name if settings.peering else None,
        liveness_endpoint=liveness,
    )
