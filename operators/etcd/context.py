"""The etcd operator's settings and context (kopf memo): its dependencies, no globals."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from shared.backup import BackupStore, FilesystemStore
from shared.identity import OperatorIdentity
from shared.kube.versions import Versions
from shared.metrics import OperatorMetrics
from shared.runtime import OperatorContext, host_api
from shared.settings import RuntimeSettings, load
from shared.watched import certificate_secrets

PREFIX = "G8S_ETCD_"


@dataclass(frozen=True)
class EtcdSettings:
    """Settings of the etcd operator (prefix ``G8S_ETCD_``)."""

    # Ask every member for its health through the etcd v3 API. Off where the
    # members cannot be reached (the local environment's simulated pods):
    # health then comes from the StatefulSet's pod readiness, and the
    # conditions say so.
    probe_members: bool = True
    # Directory of the filesystem backup store (e.g. a PVC mounted into the
    # operator); empty: no backups.
    backup_root: str = ""
    # The PVC, in each EtcdCluster's namespace, that shows the same backup
    # store to the restore init container.
    backup_claim: str = "g8s-etcd-backups"
    # Member image; ``{version}`` is spec.version. It must hold /bin/sh,
    # etcd and etcdutl (the start and restore scripts run there).
    image: str = "registry.k8s.io/etcd:{version}-0"
    # Where the member pods run (shared.placement): key=value node selector
    # entries and key[=value][:Effect] tolerations.
    node_selector: tuple[str, ...] = ()
    tolerations: tuple[str, ...] = ()
    # A member unhealthy for this long is replaced (seconds).
    unhealthy_timeout: float = 300.0
    # Deadline of one etcd call (seconds).
    etcd_timeout: float = 5.0
    # Delay before looking again while membership is changing (seconds).
    requeue_delay: float = 5.0
    # Period of the reconciliation that checks health and schedules (seconds).
    interval: float = 60.0

    @property
    def unhealthy_after(self) -> timedelta:
        return timedelta(seconds=self.unhealthy_timeout)


def load_settings(environ: Mapping[str, str]) -> EtcdSettings:
    return load(EtcdSettings, environ, prefix=PREFIX)


@dataclass
class EtcdContext(OperatorContext):
    settings: EtcdSettings = field(default_factory=EtcdSettings)
    store: BackupStore | None = None


def make_context(
    identity: OperatorIdentity,
    runtime: RuntimeSettings,
    metrics: OperatorMetrics,
    settings: EtcdSettings,
) -> EtcdContext:
    kube = host_api(runtime, identity.field_manager, metrics, versions=Versions())
    store = FilesystemStore(Path(settings.backup_root)) if settings.backup_root else None
    return EtcdContext(
        identity=identity,
        runtime=runtime,
        metrics=metrics,
        settings=settings,
        kube=kube,
        secrets=certificate_secrets(kube),
        store=store,
    )
