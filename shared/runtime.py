"""Running one operator: settings, logging, metrics, kopf settings, then kopf itself.

``run(identity, load_settings, register, make_context)`` is what every
``__main__`` calls, with the three functions of the operator's ``context`` and
``handlers`` modules. It reads ``RuntimeSettings`` and the operator's own
settings from the environment once, configures structlog, starts the metrics
endpoint, registers the handlers, builds kopf settings from the operator's
identity (so no two operators share a finalizer, annotations or peering) and
runs kopf with the operator's context as memo (no globals).
"""

import asyncio
import dataclasses
import os
import secrets
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import kopf

from shared import heap, logs, resident
from shared.conditions import Clock, utc_now
from shared.identity import OperatorIdentity
from shared.kube import Kube, connect
from shared.kube.ratelimit import TokenBucket
from shared.kube.versions import Versions
from shared.listed import Listed
from shared.metrics import OperatorMetrics
from shared.settings import RuntimeSettings, load
from shared.teardown import Volumes
from shared.watched import WatchedSecrets

S = TypeVar("S")


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
    # The children seen alive (child key -> (shared.owners.Link, the child's
    # name, namespace and owners)), so that one deleted while no watch ran is
    # still found (shared.owners.sweep).
    seen: dict[str, Any] = field(default_factory=dict)
    # Owners whose deletion handler has run (uid -> monotonic seconds), which
    # their children's events no longer wake (shared.owners.deleting).
    going: dict[str, float] = field(default_factory=dict)
    # The volumes of the claims of owners being deleted, so that a deletion
    # handler reads them by name, not in a listing of all (shared.teardown).
    volumes: Volumes = field(default_factory=Volumes)
    # The certificate Secrets the operator read, kept current by its watch
    # (shared.watched); None: read at every look.
    secrets: WatchedSecrets | None = None
    # The children of each owner as listed once and kept current by the
    # watches (shared.listed); None: listed at every look.
    listed: Listed | None = None

    def client(self) -> Kube:
        if self.kube is None:
            raise RuntimeError(
                f"the {self.identity.name} operator runs without a Kubernetes client"
            )
        return self.kube


# How long kopf's own requests (its handlers' status and progress patches, the
# watches) try again when the API server does not answer: 128 s in all. When
# the last try fails kopf drops the patch, and a handler that succeeded is
# neither recorded nor run again until the object's next event: an API server
# away for 30 s, plus its restart, outlasted the 38 s of [1, 2, 5, 10, 20], and
# an issued Certificate kept revision 0 in its status.
ERROR_BACKOFFS = (1, 2, 5, 10, 20, 30, 60)


# kopf pauses every peer while the highest priority is shared ("possibly
# conflicting operators"), so the replicas of one Deployment, which share their
# environment, would all stand still. Each process draws a priority of its own:
# the highest acts, the others wait and take over when it leaves.
PEERING_PRIORITIES = 2**31


def kopf_settings(
    identity: OperatorIdentity,
    runtime: RuntimeSettings,
    draw: Callable[[int], int] = secrets.randbelow,
    label_selectors: Mapping[tuple[str, str, str], str] | None = None,
) -> kopf.OperatorSettings:
    result = kopf.OperatorSettings()
    # The API server filters these watches (group, version, plural -> selector).
    for resource, selector in (label_selectors or {}).items():
        result.watching.label_selectors[resource] = selector
    result.persistence.finalizer = identity.finalizer
    result.persistence.progress_storage = kopf.AnnotationsProgressStorage(
        prefix=identity.annotation_prefix
    )
    result.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=identity.annotation_prefix, key="last-handled-configuration"
    )
    result.peering.name = identity.peering_name
    result.peering.standalone = not runtime.peering
    result.peering.clusterwide = not runtime.namespaces
    result.peering.priority = draw(PEERING_PRIORITIES)
    # kopf posts k8s events for its per-object log lines; warnings and up only,
    # so a busy operator does not flood the events of every object.
    result.posting.level = 30
    result.networking.error_backoffs = list(ERROR_BACKOFFS)
    result.watching.server_timeout = 300
    result.watching.client_timeout = 330
    result.queueing.error_delays = [1, 2, 5, 10, 30, 60]
    return result


# Threads of an operator's blocking steps unless it names its own number
# (docs/operations.md#concurrency-settings: more made the cluster and kvm
# operators send more requests, and finish later, on two cores).
DEFAULT_WORKER_THREADS = 6


def host_api(
    runtime: RuntimeSettings,
    field_manager: str,
    metrics: OperatorMetrics,
    versions: Versions | None = None,
) -> Kube:
    """The operator's client of the host API server: its requests limited by
    ``api_qps``/``api_burst`` and counted, a connection kept for each worker thread.
    ``versions``: what the operator's watches saw of its children (``Kube.ensure``)."""
    limit = TokenBucket(qps=runtime.api_qps, burst=runtime.api_burst, on_take=metrics.api_request)
    return Kube(connect(runtime.worker_threads), field_manager, limit=limit, versions=versions)


def add_worker_threads(registry: kopf.OperatorRegistry, threads: int) -> None:
    """Run the blocking steps (``asyncio.to_thread``) in ``threads`` threads."""

    @kopf.on.startup(registry=registry, id="worker-threads")
    async def _threads(**_: Any) -> None:
        pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="g8s-worker")
        asyncio.get_running_loop().set_default_executor(pool)


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
    load_settings: Callable[[Mapping[str, str]], S],
    register: Callable[[kopf.OperatorRegistry, S], None],
    make_context: Callable[
        [OperatorIdentity, RuntimeSettings, OperatorMetrics, S], OperatorContext
    ],
    environ: Mapping[str, str] | None = None,
    *,
    worker_threads: int = DEFAULT_WORKER_THREADS,
    label_selectors: Mapping[tuple[str, str, str], str] | None = None,
) -> None:
    env = dict(os.environ if environ is None else environ)
    runtime = load(RuntimeSettings, env)
    if runtime.heap_trace:
        heap.trace(runtime.heap_trace)  # the modules are loaded: what grows after is traced
    heap.give_back()
    if runtime.memory_report:
        resident.report_on_signal(runtime.memory_report)
    if not runtime.worker_threads:
        runtime = dataclasses.replace(runtime, worker_threads=worker_threads)
    # Read once, before anything starts: a malformed value stops the process
    # here, and the handlers (timer intervals) and the context see one value.
    settings = load_settings(env)
    logs.configure(operator=identity.name, log_format=runtime.log_format, level=runtime.log_level)
    log = logs.get_logger("g8s.runtime")
    metrics = OperatorMetrics(identity.name)
    if runtime.metrics_port:
        metrics.serve(runtime.metrics_port, runtime.metrics_address)
    registry = kopf.OperatorRegistry()
    register(registry, settings)
    add_worker_threads(registry, runtime.worker_threads)
    add_login(registry)
    context = make_context(identity, runtime, metrics, settings)
    log.info(
        "starting operator",
        namespaces=list(runtime.namespaces) or "all",
        metrics_port=runtime.metrics_port or None,
        peering=runtime.peering,
    )
    liveness = f"http://0.0.0.0:{runtime.health_port}/healthz" if runtime.health_port else None
    kopf.run(
        registry=registry,
        settings=kopf_settings(identity, runtime, label_selectors=label_selectors),
        memo=context,
        clusterwide=not runtime.namespaces,
        namespaces=runtime.namespaces,
        standalone=not runtime.peering,
        # kopf makes peering mandatory whenever a name is passed here (its
        # watches then wait for the peering CRD); the settings carry the name.
        peering_name=identity.peering_name if runtime.peering else None,
        liveness_endpoint=liveness,
    )
