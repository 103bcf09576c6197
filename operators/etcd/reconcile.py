"""The ordered steps of one EtcdCluster reconciliation; no kopf here.

observe (StatefulSet, client TLS Secret) -> probe (members over the etcd v3
API, when probing is on) -> membership (at most one change) -> apply (the
members ConfigMap, Services, PDB, StatefulSet sized to the membership) ->
backup (when scheduled or asked for) -> defragment (when scheduled) ->
requeue (come back soon while something is in progress).

Every step records what it saw on the ``Run``; ``status.report`` turns that
into the status, failed runs included.
"""

import asyncio
import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO

from operators.etcd import membership, policies, topology
from operators.etcd.children import client_service, members, pdb, peer_service, statefulset
from operators.etcd.children.statefulset import RestoreSource
from operators.etcd.context import EtcdContext, EtcdSettings
from operators.etcd.model import EtcdClusterSpec
from shared.api import names
from shared.backup import BackupError, BackupStore, backup_name
from shared.children import owned
from shared.conditions import parse_timestamp, timestamp
from shared.errors import Retry
from shared.etcd import EtcdClient, EtcdError, Member, TLSMaterial
from shared.kube import Kube, ObjectRef
from shared.placement import pod_placement
from shared.steps import Step
from shared.watched import WatchedSecrets

MAX_MEMBERS = 7
OPERATOR = "etcd"
# The certificates operator writes the members' Secrets well within a second
# of the Cluster when it is not busy: the first look again comes after half a
# second, later ones twice as far apart up to 10 s (kopf keeps a failed
# handler asleep until its delay is over, whatever event comes meanwhile; a
# fixed 2 s held every new cluster's etcd back by 1.5 s).
REASON_SECRETS_MISSING = "SecretsMissing"
SECRETS_FIRST_LOOK = 0.5
SECRETS_LAST_LOOK = 10.0


@dataclass
class Run:
    """One reconciliation: inputs, then what each step observed or did."""

    spec: EtcdClusterSpec
    body: Mapping[str, Any]
    kube: Kube
    store: BackupStore | None
    settings: EtcdSettings
    now: datetime
    statefulset: dict[str, Any] | None = None
    tls: TLSMaterial | None = None
    tls_error: str = ""
    probe: membership.Probe | None = None
    action: policies.Action | None = None
    action_result: str = ""
    action_error: str = ""
    replicas: int | None = None
    restore_error: str = ""
    restore_source: RestoreSource | None = None
    backup: dict[str, Any] | None = None
    backup_error: str = ""
    backup_request_handled: str | None = None
    defragmented: list[str] = field(default_factory=list)
    defrag_error: str = ""
    requeue: Retry | None = None
    # The TLS Secrets read in this reconcile, by name: the members' check, the
    # probe's client and the CA digest each look at them, and a read is a
    # request per look of every EtcdCluster.
    secrets_read: dict[str, dict[str, Any] | None] = field(default_factory=dict, repr=False)
    # The certificate Secrets kept by the operator's watch (shared/watched.py),
    # so a look at an unchanged EtcdCluster reads none; None: read each time.
    secrets: WatchedSecrets | None = field(default=None, repr=False)

    @property
    def status(self) -> Mapping[str, Any]:
        return self.body.get("status") or {}

    def secret(self, name: str) -> dict[str, Any] | None:
        """Secret ``name`` of the EtcdCluster's namespace, read once in this reconcile."""
        if name not in self.secrets_read:
            if self.secrets is not None:
                data = self.secrets.data(self.spec.namespace, name)
                self.secrets_read[name] = {"data": data} if data else None
            else:
                ref = ObjectRef("v1", "Secret", name, self.spec.namespace)
                self.secrets_read[name] = self.kube.get(ref)
        return self.secrets_read[name]

    @property
    def created(self) -> datetime:
        text = (self.body.get("metadata") or {}).get("creationTimestamp")
        return parse_timestamp(text) or self.now

    @property
    def ready_replicas(self) -> int:
        return int(((self.statefulset or {}).get("status") or {}).get("readyReplicas") or 0)

    @property
    def bootstrapped(self) -> bool:
        """Whether the cluster has formed: from then on new members join it."""
        if self.status.get("bootstrapped") is True:
            return True
        if self.probe is not None and self.probe.members:
            return any(m.healthy and not m.learner for m in self.probe.members)
        if not self.settings.probe_members:
            return self.statefulset is not None and self.ready_replicas >= self.spec.replicas
        return False

    @property
    def member_names(self) -> list[str] | None:
        if self.probe is None or self.probe.members is None:
            return None
        return policies.members_after([m.name for m in self.probe.members], self.action)

    def later(self, reason: str, message: str, delay: float | None = None) -> None:
        if self.requeue is None:
            self.requeue = Retry(reason, message, delay)


def make_run(spec: EtcdClusterSpec, body: Mapping[str, Any], ctx: EtcdContext) -> Run:
    return Run(spec, body, ctx.client(), ctx.store, ctx.settings, ctx.clock(), secrets=ctx.secrets)


def image(spec: EtcdClusterSpec, settings: EtcdSettings) -> str:
    return spec.image or settings.image.format(version=spec.version)


def name_of(spec: EtcdClusterSpec, member: Member) -> str:
    """A member's name; one not started yet has none in etcd, so its peer URL tells."""
    if member.name:
        return member.name
    for ordinal in range(MAX_MEMBERS):
        candidate = topology.member_name(spec, ordinal)
        if topology.peer_url(spec, candidate) in member.peer_urls:
            return candidate
    return f"unknown-{member.hex_id}"


def tls_material(secret: Mapping[str, Any]) -> TLSMaterial:
    data = secret.get("data") or {}
    missing = [key for key in ("ca.crt", "tls.crt", "tls.key") if not data.get(key)]
    if missing:
        raise ValueError(f"lacks {', '.join(missing)}")
    return TLSMaterial(
        ca=base64.b64decode(data["ca.crt"]),
        cert=base64.b64decode(data["tls.crt"]),
        key=base64.b64decode(data["tls.key"]),
    )


def previously_unhealthy(status: Mapping[str, Any]) -> dict[str, datetime]:
    found: dict[str, datetime] = {}
    for member in status.get("members") or []:
        since = parse_timestamp(member.get("unhealthySince"))
        if isinstance(member, Mapping) and since is not None:
            found[str(member.get("name"))] = since
    return found


def _client(run: Run) -> EtcdClient:
    endpoints = [topology.client_service_endpoint(run.spec)]
    if run.probe is not None and run.probe.endpoints:
        endpoints = [*run.probe.endpoints.values(), *endpoints]
    return EtcdClient(endpoints, tls=run.tls, timeout=run.settings.etcd_timeout)


# Steps.


def observe(run: Run) -> None:
    spec = run.spec
    # Read again only when the watch told of a change (most refreshes see none).
    run.statefulset = run.kube.read(
        ObjectRef("apps/v1", "StatefulSet", names.etcd_statefulset(spec.cluster), spec.namespace)
    )
    if not run.settings.probe_members or run.statefulset is None:
        return
    secret = run.secret(spec.tls.client)
    if secret is None:
        run.tls_error = f"client TLS Secret {spec.tls.client} not found"
        return
    try:
        run.tls = tls_material(secret)
    except (ValueError, TypeError) as exc:
        run.tls_error = f"client TLS Secret {spec.tls.client} {exc}"


async def probe(run: Run) -> None:
    if not run.settings.probe_members or run.statefulset is None:
        return
    if run.tls_error:
        run.probe = membership.Probe(members=None, leader="", error=run.tls_error)
        return
    async with _client(run) as client:
        run.probe = await membership.probe(
            client,
            name_of=lambda m: name_of(run.spec, m),
            previously_unhealthy=previously_unhealthy(run.status),
            now=run.now,
        )


async def change_membership(run: Run) -> None:
    if run.probe is None or run.probe.members is None or not run.bootstrapped:
        return
    spec = run.spec
    action = policies.next_action(
        spec.replicas,
        run.probe.members,
        ordinal=lambda name: topology.ordinal_of(spec, name),
        name_for=lambda ordinal: topology.member_name(spec, ordinal),
        now=run.now,
        unhealthy_timeout=run.settings.unhealthy_after,
    )
    if action is None:
        return
    if action.kind == "wait":
        run.action_result = action.message
        run.later(action.reason, action.message, run.settings.requeue_delay * 2)
        return

    async def recreate(member: str) -> None:
        await asyncio.to_thread(_recreate_pod, run.kube, spec, member)

    try:
        async with _client(run) as client:
            result = await membership.execute(
                action, client, peer_url=lambda m: topology.peer_url(spec, m), recreate=recreate
            )
    except EtcdError as exc:
        run.action_error = f"{action.message}: {exc}"
        run.later(action.reason, run.action_error)
        return
    if result.done:
        run.action = action
    run.action_result = result.message
    run.later(action.reason, result.message, run.settings.requeue_delay)


def _recreate_pod(kube: Kube, spec: EtcdClusterSpec, member: str) -> None:
    """Delete a member's volume and pod: the StatefulSet brings both back empty."""
    claim = f"{statefulset.DATA_VOLUME}-{member}"
    kube.delete(ObjectRef("v1", "PersistentVolumeClaim", claim, spec.namespace))
    kube.delete(ObjectRef("v1", "Pod", member, spec.namespace))


def _require_tls_secrets(run: Run) -> None:
    """No members before their Secrets: pods that cannot mount them would wait
    unseen, and a name from another namespace (never readable here) would look
    like a slow start. Checked only while there is no StatefulSet, so nothing
    is read at rest."""
    tls, namespace = run.spec.tls, run.spec.namespace
    missing = [name for name in (tls.server, tls.peer, tls.client) if run.secret(name) is None]
    if missing:
        raise Retry(
            REASON_SECRETS_MISSING,
            f"waiting for the TLS Secret(s) {', '.join(missing)} in namespace {namespace}: "
            "the members cannot start without them",
            base=SECRETS_FIRST_LOOK,
            ceiling=SECRETS_LAST_LOOK,
        )


def apply(run: Run) -> None:
    spec = run.spec
    current = (run.statefulset or {}).get("spec", {}).get("replicas")
    ordinal = lambda name: topology.ordinal_of(spec, name)  # noqa: E731
    if run.settings.probe_members:
        run.replicas = policies.statefulset_replicas(
            run.member_names,
            ordinal=ordinal,
            current=current,
            desired=spec.replicas,
            bootstrapped=run.bootstrapped,
        )
    else:
        run.replicas = spec.replicas
    if run.statefulset is None:
        _require_tls_secrets(run)
    restore = run.restore_source = _restore_source(run)
    objects = [
        *_members_configmap(run),
        peer_service.build(spec),
        client_service.build(spec),
        pdb.build(spec),
    ]
    if restore is not None or spec.restore is None:
        objects.append(
            statefulset.build(
                spec,
                replicas=run.replicas,
                image=image(spec, run.settings),
                restore=restore,
                placement=pod_placement(run.settings.node_selector, run.settings.tolerations),
                trusted_cas=_trusted_cas(run),
            )
        )
    owner = run.body
    for obj in objects:
        run.kube.ensure(owned(obj, owner=owner, operator=OPERATOR, cluster=spec.cluster))


def _trusted_cas(run: Run) -> str:
    """The digest of the CA bundles of the members' TLS Secrets; "" if one is missing."""
    tls = run.spec.tls
    bundles = []
    for name in (tls.server, tls.peer, tls.client):
        ca = ((run.secret(name) or {}).get("data") or {}).get("ca.crt")
        if not ca:
            return ""
        bundles.append(base64.b64decode(ca))
    return statefulset.trusted_cas(bundles)


def _members_configmap(run: Run) -> list[dict[str, Any]]:
    spec = run.spec
    if not run.bootstrapped:
        initial = [topology.member_name(spec, i) for i in range(spec.replicas)]
        peers = {name: topology.peer_url(spec, name) for name in initial}
        return [members.build(spec, peers=peers, state="new")]
    known = run.member_names
    if run.settings.probe_members and not known:
        # Unknown membership: keep what the ConfigMap says rather than guess.
        return []
    current = known or [topology.member_name(spec, i) for i in range(spec.replicas)]
    peers = {name: topology.peer_url(spec, name) for name in current}
    return [members.build(spec, peers=peers, state="existing")]


def _restore_source(run: Run) -> RestoreSource | None:  # noqa: PLR0911 - one per outcome
    """The snapshot the restore init container reads, or None (then no StatefulSet yet)."""
    spec = run.spec
    if spec.restore is None:
        return None
    location, checksum = spec.restore.location, spec.restore.checksum
    if run.bootstrapped:
        # The members hold the data now and the init container skips; the
        # template stays the same even after retention pruned the snapshot.
        return RestoreSource(run.settings.backup_claim, location, checksum)
    if run.store is None:
        run.restore_error = "spec.restore needs a backup store, and the operator has none"
        run.later("NoBackupStore", run.restore_error, run.settings.requeue_delay * 12)
        return None
    try:
        found = run.store.get(location)
    except BackupError as exc:
        run.restore_error = f"spec.restore.location: {exc}"
        return None
    if found is None:
        run.restore_error = f"snapshot {location} not found in the backup store"
        run.later("BackupNotFound", run.restore_error, run.settings.requeue_delay * 6)
        return None
    if checksum and checksum != found.sha256:
        run.restore_error = (
            f"snapshot {location} has SHA-256 {found.sha256}, spec.restore.checksum says {checksum}"
        )
        return None
    return RestoreSource(run.settings.backup_claim, location, checksum or found.sha256)


def backup(run: Run) -> None:
    spec = run.spec
    requested = policies.backup_requested(
        spec.backup_request, str(run.status.get("lastBackupRequest") or "")
    )
    last = parse_timestamp((run.status.get("lastBackup") or {}).get("time"))
    scheduled = policies.due(spec.backup.schedule, last, run.created, run.now)
    if not (requested or scheduled):
        return
    if run.store is None:
        run.backup_error = "no backup store configured in the operator"
        return
    if not run.settings.probe_members:
        run.backup_error = "member probing is off: snapshots need the etcd v3 API"
        return
    endpoint = _backup_endpoint(run)
    if endpoint is None:
        run.backup_error = "no healthy member to take a snapshot from"
        run.later("BackupWaiting", run.backup_error)
        return
    try:
        record = take_backup(
            run.store,
            spec.backup.directory,
            name=backup_name(run.now, "manual" if requested else "scheduled"),
            endpoint=endpoint,
            tls=run.tls,
            keep=spec.backup.keep,
            timeout=run.settings.etcd_timeout,
        )
    except (BackupError, EtcdError, OSError) as exc:
        run.backup_error = f"snapshot of {endpoint} failed: {exc}"
        run.later("BackupFailed", run.backup_error)
        return
    run.backup = {**record, "time": timestamp(run.now)}
    if requested:
        run.backup_request_handled = spec.backup_request


def _backup_endpoint(run: Run) -> str | None:
    """A healthy voter's endpoint, a follower rather than the leader."""
    if run.probe is None or not run.probe.members or not run.probe.endpoints:
        return None
    healthy = [m for m in run.probe.members if m.healthy and not m.learner]
    for member in sorted(healthy, key=lambda m: (m.leader, m.name)):
        if member.name in run.probe.endpoints:
            return run.probe.endpoints[member.name]
    return None


def take_backup(
    store: BackupStore,
    directory: str,
    *,
    name: str,
    endpoint: str,
    tls: TLSMaterial | None,
    keep: int,
    timeout: float,
) -> dict[str, Any]:
    """Snapshot ``endpoint`` into ``store`` and prune to ``keep``; blocking (run it in a thread).

    The snapshot streams through a client on this thread's own event loop,
    straight into the store's file, so no 100 MB database sits in memory
    and the operator's loop is never blocked by the disk.
    """
    revision = 0

    def fill(out: BinaryIO) -> None:
        nonlocal revision

        async def stream() -> int:
            async with EtcdClient([endpoint], tls=tls, timeout=timeout) as client:
                info = await client.snapshot(endpoint, out.write)
                return info.revision

        revision = asyncio.run(stream())

    stored = store.write(directory, name, fill)
    backups = {b.name: b.location for b in store.list(directory)}
    for old in policies.to_prune(list(backups), keep):
        store.delete(backups[old])
    return {
        "revision": revision,
        "size": stored.size,
        "checksum": stored.sha256,
        "location": stored.location,
    }


async def defragment(run: Run) -> None:
    schedule = run.spec.backup.defrag_schedule
    last = parse_timestamp(run.status.get("lastDefragmentationTime"))
    if not policies.due(schedule, last, run.created, run.now):
        return
    probe = run.probe
    if probe is None or not probe.members or not probe.endpoints:
        return
    if not all(m.healthy for m in probe.members) or run.action is not None:
        run.defrag_error = "waiting for every member to be healthy and membership to settle"
        return
    order = policies.defragment_order(probe.members)
    async with _client(run) as client:
        for member in order:
            try:
                await client.defragment(probe.endpoints[member])
            except EtcdError as exc:
                run.defrag_error = f"defragmenting {member}: {exc}"
                return
            run.defragmented.append(member)


def requeue(run: Run) -> None:
    if run.requeue is not None:
        raise run.requeue


STEPS: tuple[Step[Run], ...] = (
    Step("observe", observe),
    Step("probe", probe),
    Step("membership", change_membership),
    Step("apply", apply),
    Step("backup", backup),
    Step("defragment", defragment),
    Step("requeue", requeue),
)
