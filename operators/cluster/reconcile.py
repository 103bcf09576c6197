"""The ordered steps of one Cluster reconciliation, and of its deletion; no kopf here.

observe -> encryption -> service -> certificates -> network -> etcd -> remediate ->
nodes -> endpoints -> kubeconfig -> encryption-rotation ->
service-account-rotation -> ca-rotation. Every child is server-side
applied from its pure builder, so a step that finds nothing to change costs one
no-op request and writes nothing.
"""

import os
from base64 import b64decode, b64encode
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from operators.cluster import carotation, keyrotation, policies, remediation, sarotation
from operators.cluster import status as aggregate
from operators.cluster.children import (
    certificate,
    clusternetwork,
    encryption,
    etcdcluster,
    kubeconfig,
    kvmnode,
    service,
)
from operators.cluster.context import ClusterContext
from operators.cluster.model import CONTROLPLANE, WORKER, ClusterRef, ClusterSpec
from operators.cluster.policies import NodePlan, NodeState
from operators.cluster.status import Observed, child_ready
from shared import conditions as cond
from shared.api import API_VERSION, names
from shared.api import carotation as ca
from shared.api import certificates as catalogue
from shared.api import conditions as c
from shared.api import encryption as encryption_keys
from shared.api import serviceaccount as sa
from shared.api.kinds import CERTIFICATE, CLUSTER, CLUSTER_NETWORK, ETCD_CLUSTER, KVM_NODE, Kind
from shared.api.labels import CLUSTER as CLUSTER_LABEL
from shared.api.labels import PAUSED
from shared.children import owned, owner_reference
from shared.errors import ApiError, InvalidSpec, Retry
from shared.kube import Kube, ObjectRef
from shared.listed import Listed
from shared.status import Report
from shared.steps import Outcome, Step

OPERATOR = CLUSTER.operator
CHILD_KINDS: tuple[Kind, ...] = (CERTIFICATE, ETCD_CLUSTER, CLUSTER_NETWORK, KVM_NODE)
HTTP_NOT_FOUND = 404
HTTP_CONFLICT = 409
HTTP_UNPROCESSABLE = 422
# A child name held by another object (docs/design.md#names-labels-and-ownership).
REASON_NAME_TAKEN = "NameTaken"
REASON_KEYS_MISSING = "EncryptionKeysMissing"
# A Secret the user is about to make (g8s restore makes it first): looked for again soon.
KEYS_RETRY_SECONDS = 10.0


@dataclass
class Run:
    """One reconciliation: the spec, the Cluster body, the client and what was seen."""

    spec: ClusterSpec
    body: Mapping[str, Any]
    kube: Kube
    new_key: Callable[[], bytes] = field(default=lambda: os.urandom(encryption_keys.KEY_BYTES))
    children: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    observed: Observed = field(default_factory=Observed)
    # The API Service's ClusterIP once it has one.
    api_ip: str = ""
    # When this reconcile began: node health is judged against it.
    now: datetime = field(default_factory=cond.utc_now)
    # Makes a client of the guest from its admin kubeconfig; None: the guest is never asked.
    guest_client: Callable[[str], Kube] | None = None
    # Secrets read in this reconcile by name: several steps look at the same ones,
    # and every read is a request per reconcile of every Cluster.
    secrets_read: dict[str, dict[str, Any] | None] = field(default_factory=dict, repr=False)
    # The children as the watches keep them (shared.listed); None: listed at each look.
    listed: Listed | None = field(default=None, repr=False)

    def of(self, kind: Kind) -> list[dict[str, Any]]:
        return self.children.get(kind.kind, [])

    def secret(self, name: str) -> dict[str, Any] | None:
        """Secret ``name`` of the Cluster's namespace, read once in this reconcile."""
        if name not in self.secrets_read:
            ref = ObjectRef("v1", "Secret", name, self.spec.namespace)
            self.secrets_read[name] = self.kube.get(ref)
        return self.secrets_read[name]

    def apply(self, child: Mapping[str, Any]) -> dict[str, Any]:
        try:
            result = self.kube.apply(
                owned(child, owner=self.body, operator=OPERATOR, cluster=self.spec.name),
                current=self.found(child),
            )
        except ApiError as exc:
            if exc.status == HTTP_UNPROCESSABLE:
                self._refuse_if_taken(child)
            raise
        if self.listed is not None:
            self.listed.put(result)
        return result

    def delete_node(self, name: str) -> None:
        """Delete a KVMNode; the next look lists the nodes (it must see the deletion)."""
        self.kube.delete(ObjectRef(API_VERSION, KVM_NODE.kind, name, self.spec.namespace))
        if self.listed is not None:
            self.listed.stale((self.spec.namespace, KVM_NODE.kind, self.spec.name))

    def found(self, child: Mapping[str, Any]) -> dict[str, Any] | None:
        """The child as this reconcile's listing found it: an apply that would
        change nothing in it is then skipped without reading it again."""
        name = child["metadata"]["name"]
        found = self.children.get(child["kind"], [])
        return next((item for item in found if item["metadata"]["name"] == name), None)

    def _refuse_if_taken(self, child: Mapping[str, Any]) -> None:
        """Report a child name another object already holds, instead of the API
        server's refusal of the write (an immutable field, a second controller)."""
        meta = child["metadata"]
        ref = ObjectRef(child["apiVersion"], child["kind"], meta["name"], self.spec.namespace)
        found = self.kube.get(ref)
        if found is None or owned_by(found, self.body["metadata"]["uid"]):
            return
        holders = (found.get("metadata") or {}).get("ownerReferences") or []
        holder = ", ".join(f"{r.get('kind')} {r.get('name')}" for r in holders) or "nobody"
        raise InvalidSpec(
            "metadata.name",
            f"the {child['kind']} {meta['name']} this Cluster needs already exists and "
            f"belongs to {holder}; give this Cluster another name",
            reason=REASON_NAME_TAKEN,
        )


def make_run(spec: ClusterSpec, body: Mapping[str, Any], ctx: ClusterContext) -> Run:
    return Run(
        spec,
        body,
        ctx.client(),
        now=ctx.clock(),
        guest_client=ctx.guest_client,
        listed=ctx.listed,
    )


def owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid for ref in refs)


def list_children(kube: Kube, spec: ClusterRef) -> dict[str, list[dict[str, Any]]]:
    """The children of ``spec``'s Cluster: labelled with its name and owned by its uid."""
    return {kind.kind: children_of(kube, spec, kind) for kind in CHILD_KINDS}


def children_of(
    kube: Kube, spec: ClusterRef, kind: Kind, listed: Listed | None = None
) -> list[dict[str, Any]]:
    """The children of one kind of ``spec``'s Cluster; kept ones when ``listed`` holds them.

    A deletion lists: that no child is left must come from the API server.
    """
    selector = f"{CLUSTER_LABEL}={spec.name}"

    def listing() -> list[dict[str, Any]]:
        return kube.list(API_VERSION, kind.kind, namespace=spec.namespace, selector=selector)

    group = (spec.namespace, kind.kind, spec.name)
    items = listed.children(group, listing) if listed is not None else listing()
    return [item for item in items if owned_by(item, spec.uid)]


def kept_children(
    kube: Kube, spec: ClusterRef, listed: Listed | None
) -> dict[str, list[dict[str, Any]]]:
    """``list_children``, from what the watches keep where they keep it."""
    return {kind.kind: children_of(kube, spec, kind, listed) for kind in CHILD_KINDS}


def node_state(body: Mapping[str, Any]) -> NodeState:
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    conditions = status.get("conditions") or []
    ready = cond.get(conditions, c.READY) or {}
    node_ready = cond.get(conditions, c.NODE_READY) or {}
    return NodeState(
        name=str(meta.get("name")),
        role=str(spec.get("role")),
        index=int(spec.get("index") or 0),
        version=str(spec.get("kubernetesVersion") or ""),
        ready=child_ready(KVM_NODE.kind, str(meta.get("name")), body).ready,
        created=str(meta.get("creationTimestamp") or ""),
        deleting=bool(meta.get("deletionTimestamp")),
        # NodeReady changes from Unknown to False when the guest API answers
        # again while Ready stays False: a node is not Ready "since" before
        # its health could be told (RFC 3339 times of one writer sort as time).
        ready_since=max(
            str(ready.get("lastTransitionTime") or ""),
            str(node_ready.get("lastTransitionTime") or ""),
        ),
        first_ready=str(status.get("firstReadyTime") or ""),
        unknown=node_ready.get("status") == c.UNKNOWN
        or node_ready.get("reason") == c.REASON_GUEST_API_NOT_READY,
    )


def _by_name(items: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {str(item["metadata"]["name"]): item for item in items}


def observe(run: Run) -> None:
    run.children = kept_children(run.kube, run.spec.ref, run.listed)
    spec = run.spec
    certs = _by_name(run.of(CERTIFICATE))
    certificates = [
        child_ready(CERTIFICATE.kind, name, certs.get(name))
        for name in (names.certificate(spec.name, comp) for comp in catalogue.COMPONENTS)
    ]
    etcd = _by_name(run.of(ETCD_CLUSTER)).get(spec.name)
    network = _by_name(run.of(CLUSTER_NETWORK)).get(names.cluster_network(spec.name))
    nodes = run.of(KVM_NODE)
    run.observed = Observed(
        certificates=certificates,
        etcd=child_ready(ETCD_CLUSTER.kind, spec.name, etcd),
        network=child_ready(CLUSTER_NETWORK.kind, names.cluster_network(spec.name), network),
        network_status=dict((network or {}).get("status") or {}),
        nodes=[node_state(n) for n in nodes],
        node_ready=[child_ready(KVM_NODE.kind, str(n["metadata"]["name"]), n) for n in nodes],
    )


def ensure_encryption(run: Run) -> None:
    """Create the encryption key once; an existing key is never replaced."""
    ref = ObjectRef("v1", "Secret", names.encryption_secret(run.spec.name), run.spec.namespace)
    restore = run.spec.restore_from
    keys_from = restore.encryption_keys_secret if restore is not None else ""
    if run.secret(ref.name) is not None:
        if keys_from:
            adopt_keys_secret(run, keys_from)
        return
    if keys_from:
        built = encryption.restored(run.spec, restored_keys(run, keys_from))
    else:
        built = encryption.build(run.spec, run.new_key())
    secret = owned(built, owner=run.body, operator=OPERATOR, cluster=run.spec.name)
    run.secrets_read.pop(ref.name, None)  # made or lost the race: read again if needed
    try:
        run.kube.create(secret)
    except ApiError as exc:
        # Another writer won the race: its key is the one to keep.
        if exc.status != HTTP_CONFLICT:
            raise


def adopt_keys_secret(run: Run, name: str) -> None:
    """Own the copy of the old keys that g8s restore made, so it goes with this Cluster.

    Only an unowned Secret labelled for this cluster: one that belongs to
    another cluster (its own ``<c>-encryption``) is left as it is.
    """
    ref = ObjectRef("v1", "Secret", name, run.spec.namespace)
    found = run.kube.get(ref)
    meta = (found or {}).get("metadata") or {}
    if found is None or meta.get("ownerReferences"):
        return
    if (meta.get("labels") or {}).get(CLUSTER_LABEL) != run.spec.name:
        return
    run.kube.patch(ref, {"metadata": {"ownerReferences": [owner_reference(run.body)]}})


def restored_keys(run: Run, name: str) -> tuple[encryption_keys.Key, ...]:
    """The keys in Secret ``name``, which the restored cluster must start with."""
    field_path = "spec.etcd.restoreFrom.encryptionKeysSecret"
    found = run.kube.get(ObjectRef("v1", "Secret", name, run.spec.namespace))
    if found is None:
        # Nothing of the guest may start before: a new key would make the
        # backup's Secrets unreadable for good once the API server writes.
        raise Retry(
            REASON_KEYS_MISSING,
            f"{field_path}: Secret {name} not found in {run.spec.namespace}; the guest "
            f"waits for it (g8s restore makes it from the old cluster's <name>-encryption)",
            delay=KEYS_RETRY_SECONDS,
        )
    try:
        keys = encryption_keys.keys_of(found.get("data") or {})
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidSpec(field_path, f"Secret {name} holds no readable key list: {exc}") from None
    if not keys:
        raise InvalidSpec(field_path, f"Secret {name} has neither a `key` nor a `keys` entry")
    return keys


def apply_certificates(run: Run) -> None:
    for child in certificate.build_all(run.spec, run.api_ip):
        run.apply(child)


def apply_network(run: Run) -> None:
    run.apply(clusternetwork.build(run.spec))


def apply_etcd(run: Run) -> None:
    run.apply(etcdcluster.build(run.spec))


def apply_service(run: Run) -> None:
    applied = run.apply(service.build(run.spec))
    cluster_ip = str((applied.get("spec") or {}).get("clusterIP") or "")
    run.api_ip = "" if cluster_ip == "None" else cluster_ip


def controlplane_addresses(run: Run) -> list[str]:
    found = []
    for node in run.of(KVM_NODE):
        if (node.get("spec") or {}).get("role") != CONTROLPLANE:
            continue
        if (node.get("metadata") or {}).get("deletionTimestamp"):
            continue
        address = (node.get("status") or {}).get("ipAddress")
        if address:
            found.append(str(address))
    return found


def apply_endpoints(run: Run) -> None:
    run.apply(service.endpoint_slice(run.spec, controlplane_addresses(run)))


def plan(run: Run) -> tuple[NodePlan, NodePlan]:
    spec = run.spec
    return policies.plan_nodes(
        run.observed.nodes,
        desired={CONTROLPLANE: spec.control_plane.replicas, WORKER: spec.workers.replicas},
        version=spec.kubernetes_version,
        max_surge=spec.max_surge,
        max_unavailable=spec.max_unavailable,
    )


def remediate(run: Run) -> None:
    """Delete the KVMNodes that stopped being healthy; the node plan that runs
    next sees them going and creates their replacements in the same pass."""
    verdict = remediation.judge(run.observed.nodes, run.spec.remediation, run.now)
    for name in verdict.replace:
        run.delete_node(name)
    replaced = set(verdict.replace)
    nodes = [replace(n, deleting=True) if n.name in replaced else n for n in run.observed.nodes]
    run.observed = Observed(**{**run.observed.__dict__, "nodes": nodes, "health": verdict})


def apply_nodes(run: Run) -> None:
    """Re-apply live nodes at their own version, create and delete what the plans say."""
    spec = run.spec
    plans = plan(run)
    run.observed = Observed(**{**run.observed.__dict__, "plans": plans})
    doomed = {name for p in plans for name in p.delete}
    for node in run.observed.nodes:
        if node.deleting or node.name in doomed:
            continue
        run.apply(kvmnode.build(spec, node.role, node.index, node.version))
    for p in plans:
        for index in p.create:
            run.apply(kvmnode.build(spec, p.role, index, spec.kubernetes_version))
        for name in p.delete:
            run.delete_node(name)


def _data(secret: Mapping[str, Any] | None, key: str) -> str:
    return str(((secret or {}).get("data") or {}).get(key) or "")


def write_kubeconfig(run: Run) -> None:
    """Write the admin kubeconfig once the admin certificate is issued."""
    spec = run.spec
    admin_name = names.certificate(spec.name, catalogue.ADMIN)
    admin_ready = any(ch.name == admin_name and ch.ready for ch in run.observed.certificates)
    if not admin_ready:
        return
    admin = run.secret(admin_name)
    ca_secret = run.secret(names.ca_secret(spec.name))
    ca = _data(ca_secret, "ca.crt") or _data(admin, "ca.crt")
    cert, key = _data(admin, "tls.crt"), _data(admin, "tls.key")
    if not (ca and cert and key):
        return
    if not run.api_ip:
        return
    server = service.ip_endpoint(run.api_ip)
    run.apply(kubeconfig.build(spec, server=server, ca=ca, cert=cert, key=key))
    run.observed = Observed(**{**run.observed.__dict__, "kubeconfig": True})


# How soon a rotation waiting on the guest's API servers looks again.
ROTATION_RECHECK = timedelta(seconds=15)
REASON_ROTATION_IDLE = "Idle"
REASON_ROTATED = "Rotated"
REASON_ROTATION_WAITING = "GuestUnreachable"


def rotate_encryption(run: Run) -> None:
    """One move of an encryption key rotation, when one is asked for (keyrotation.py)."""
    spec = run.spec
    meta = run.body.get("metadata") or {}
    request = str((meta.get("annotations") or {}).get(keyrotation.REQUEST_ANNOTATION) or "")
    ref = ObjectRef("v1", "Secret", names.encryption_secret(spec.name), spec.namespace)
    secret = run.secret(ref.name)
    if secret is None:
        return
    state = keyrotation.state_of(secret)
    action = keyrotation.next_action(state, request)
    if action is keyrotation.Action.IDLE:
        write_key = state.keys[0].name if state.keys else "none"
        answered = f"; last rotation asked by {state.done_for!r}" if state.done_for else ""
        message = f"write key {write_key}{answered}"
        _rotation(
            run, cond.Observation.false(c.ENCRYPTION_KEY_ROTATING, REASON_ROTATION_IDLE, message)
        )
        return
    try:
        guest = _guest(run)
        observation = _rotation_move(run, Move(guest, ref, state, request), action)
    except Exception as exc:  # the guest's answer, whatever it is, goes into the condition
        reason = state.phase or REASON_ROTATION_WAITING
        message = f"waiting for the guest API: {type(exc).__name__}: {exc}"
        observation = cond.Observation.true(c.ENCRYPTION_KEY_ROTATING, reason, message[:1000])
    _rotation(run, observation)


def _rotation(run: Run, observation: cond.Observation) -> None:
    recheck = run.now + ROTATION_RECHECK if observation.status == c.TRUE else None
    run.observed = Observed(
        **{**run.observed.__dict__, "rotation": observation, "rotation_recheck": recheck}
    )


def _guest(run: Run) -> Kube:
    if run.guest_client is None:
        raise LookupError("no guest API client configured")
    name = names.kubeconfig_secret(run.spec.name)
    value = _data(run.secret(name), "value")
    if not value:
        raise LookupError(f"Secret {name} has no admin kubeconfig yet")
    return run.guest_client(b64decode(value).decode())


@dataclass(frozen=True)
class Move:
    """What one rotation move works on: the guest, the Secret and what it holds."""

    guest: Kube
    ref: ObjectRef
    state: keyrotation.State
    request: str


def _rotation_move(run: Run, move: Move, action: keyrotation.Action) -> cond.Observation:
    guest, ref, state, request = move.guest, move.ref, move.state, move.request
    actions = keyrotation.Action
    rotating = c.ENCRYPTION_KEY_ROTATING
    if action in keyrotation.NEEDS_LOADED:
        pending = _not_loaded(guest, state.keys, run.now)
        if pending:
            message = f"{state.phase}: waiting for API servers to load it: {', '.join(pending)}"
            return cond.Observation.true(rotating, state.phase, message)
    if action is actions.ADD:
        keys = keyrotation.added(state.keys, b64encode(run.new_key()).decode())
        _write_keys(run, ref, keys, {keyrotation.PHASE_ANNOTATION: keyrotation.ADDED})
        message = f"{keys[-1].name} added for reading; next: every API server loads it"
        return cond.Observation.true(rotating, keyrotation.ADDED, message)
    if action is actions.SWITCH:
        keys = keyrotation.switched(state.keys)
        _write_keys(run, ref, keys, {keyrotation.PHASE_ANNOTATION: keyrotation.SWITCHED})
        message = f"{keys[0].name} encrypts every write; next: every API server loads it"
        return cond.Observation.true(rotating, keyrotation.SWITCHED, message)
    if action is actions.REWRITE:
        count = _rewrite_secrets(guest)
        counted = {
            keyrotation.PHASE_ANNOTATION: keyrotation.REWRITTEN,
            keyrotation.REWRITTEN_ANNOTATION: str(count),
        }
        _write_keys(run, ref, None, counted)
        message = f"{count} Secrets written again with {state.keys[0].name}"
        return cond.Observation.true(rotating, keyrotation.REWRITTEN, message)
    if action is actions.REMOVE:
        keys = keyrotation.removed(state.keys)
        _write_keys(run, ref, keys, {keyrotation.PHASE_ANNOTATION: keyrotation.REMOVED})
        gone = ", ".join(k.name for k in state.keys[1:]) or "none"
        message = f"old keys removed ({gone}); next: every API server loads it"
        return cond.Observation.true(rotating, keyrotation.REMOVED, message)
    # FINISH: a Secret left under a removed key would fail this read.
    read_back = len(guest.list("v1", "Secret", namespace=None))
    annotations: dict[str, str | None] = {
        keyrotation.PHASE_ANNOTATION: None,
        keyrotation.REWRITTEN_ANNOTATION: None,
        keyrotation.DONE_ANNOTATION: request,
    }
    _write_keys(run, ref, None, annotations)
    message = (
        f"rotated to {state.keys[0].name}: {state.rewritten} Secrets rewritten,"
        f" {read_back} read back"
    )
    return cond.Observation.false(rotating, REASON_ROTATED, message)


def _not_loaded(guest: Kube, keys: Sequence[encryption_keys.Key], now: datetime) -> list[str]:
    """The live guest API servers not yet serving with ``keys``; [] when all are."""
    expected = encryption_keys.config_hash(keys)
    leases = guest.list(
        "coordination.k8s.io/v1",
        "Lease",
        namespace="kube-system",
        selector=keyrotation.IDENTITY_SELECTOR,
    )
    live = keyrotation.live_apiservers(leases, now)
    if not live:
        return ["(no API server identity Lease renewed lately)"]
    seen: dict[str, str] = {}
    # Each request reaches one API server behind the Service: ask until every
    # live one has answered, a few times each at most.
    for _ in range(3 * len(live)):
        seen.update(keyrotation.loaded_configs(guest.get_raw("/metrics")))
        if not keyrotation.not_loaded(live, seen, expected):
            return []
    return keyrotation.not_loaded(live, seen, expected)


def _rewrite_secrets(guest: Kube) -> int:
    """Write every guest Secret again, unchanged: the API server stores one it
    read with an old key anew, with the write key."""
    count = 0
    for item in guest.list("v1", "Secret", namespace=None):
        meta = item["metadata"]
        try:
            guest.patch(ObjectRef("v1", "Secret", meta["name"], meta["namespace"]), {})
        except ApiError as exc:
            if exc.status != HTTP_NOT_FOUND:
                raise
            continue  # deleted meanwhile: nothing left to rewrite
        count += 1
    return count


def _write_keys(
    run: Run,
    ref: ObjectRef,
    keys: Sequence[encryption_keys.Key] | None,
    annotations: Mapping[str, str | None],
) -> None:
    body: dict[str, Any] = {"metadata": {"annotations": dict(annotations)}}
    if keys is not None:
        body["data"] = encryption_keys.data_of(keys)
    run.secrets_read.pop(ref.name, None)
    run.kube.patch(ref, body)


# Seconds tokens of the old service-account key are still accepted after the
# new key signs: pods' projected tokens are renewed at 80 % of their hour.
SA_GRACE_ANNOTATION = "g8s.io/rotate-service-account-grace"
SA_GRACE_DEFAULT = timedelta(hours=1)
# Whose tokens the check asks for: a ServiceAccount every cluster has.
SA_PROBE = ("default", "kube-system")


def rotate_service_account(run: Run) -> None:
    """One move of a service-account key rotation, when one is asked for (sarotation.py)."""
    spec = run.spec
    annotations = (run.body.get("metadata") or {}).get("annotations") or {}
    request = str(annotations.get(sarotation.REQUEST_ANNOTATION) or "")
    name = names.certificate(spec.name, catalogue.SERVICE_ACCOUNT)
    certificate = next((c for c in run.of(CERTIFICATE) if c["metadata"]["name"] == name), None)
    if certificate is None:
        return
    asked = sa.parse_step(
        (certificate["metadata"].get("annotations") or {}).get(sa.ROTATION_ANNOTATION)
    )
    rotating = c.SERVICE_ACCOUNT_KEY_ROTATING
    # Never asked: the key is the one made with the cluster, and the Secret is not
    # read (one request fewer on every reconcile of every Cluster).
    secret = run.secret(name) if request or asked is not None else None
    if secret is None:
        if not request and asked is None:
            message = "no rotation asked; the key made with the cluster signs"
            _sa_rotation(run, cond.Observation.false(rotating, REASON_ROTATION_IDLE, message))
        return
    held = (secret.get("metadata") or {}).get("annotations") or {}
    reached = sa.parse_step(held.get(sa.ROTATION_ANNOTATION))
    move = sarotation.next_move(
        request,
        asked,
        reached,
        cond.parse_timestamp(held.get(sa.ROTATION_TIME_ANNOTATION)),
        grace=_grace(annotations),
    )
    phase = reached.name if reached is not None and reached.request == request else "Requested"
    if move == sarotation.IDLE:
        answered = f"; last rotation asked by {request!r}" if request else ""
        message = f"signing key {_signing_id(secret)[:12]}{answered}"
        reason = REASON_ROTATED if request else REASON_ROTATION_IDLE
        _sa_rotation(run, cond.Observation.false(rotating, reason, message))
        return
    if move.ask is None:
        _sa_rotation(run, cond.Observation.true(rotating, phase, f"waiting for {move.waiting}"))
        return
    if move.not_before is not None and run.now < move.not_before:
        message = (
            f"{phase}: tokens of the old key are accepted until"
            f" {cond.timestamp(move.not_before)}, while the pods' tokens are renewed"
        )
        _sa_rotation(run, cond.Observation.true(rotating, phase, message), move.not_before)
        return
    try:
        missing = _not_shown(run, move.check, secret)
    except Exception as exc:  # the guest's answer, whatever it is, goes into the condition
        missing = f"waiting for the guest API: {type(exc).__name__}: {exc}"
    if missing:
        _sa_rotation(run, cond.Observation.true(rotating, phase, missing[:1000]))
        return
    ref = ObjectRef(API_VERSION, CERTIFICATE.kind, name, spec.namespace)
    run.kube.patch(ref, {"metadata": {"annotations": {sa.ROTATION_ANNOTATION: move.ask.text()}}})
    message = f"asked the certificates operator for {move.ask.name}"
    _sa_rotation(run, cond.Observation.true(rotating, phase, message))


def _grace(annotations: Mapping[str, Any]) -> timedelta:
    try:
        seconds = float(annotations.get(SA_GRACE_ANNOTATION) or "")
    except ValueError:
        return SA_GRACE_DEFAULT
    return timedelta(seconds=max(0.0, seconds))


def _sa_rotation(run: Run, observation: cond.Observation, at: datetime | None = None) -> None:
    recheck = (at or run.now + ROTATION_RECHECK) if observation.status == c.TRUE else None
    run.observed = Observed(
        **{**run.observed.__dict__, "sa_rotation": observation, "sa_rotation_recheck": recheck}
    )


def _secret_bytes(secret: Mapping[str, Any], key: str) -> bytes:
    return b64decode(str((secret.get("data") or {}).get(key) or ""))


def _signing_id(secret: Mapping[str, Any]) -> str:
    private = _secret_bytes(secret, sa.SIGNING_KEY)
    return sa.key_id(sa.public_of(private)) if private else ""


def _not_shown(run: Run, check: sarotation.Check, secret: Mapping[str, Any]) -> str:
    """What the guest's API servers do not show yet of ``check``; "" once they all do.

    Each request reaches one API server behind the Service: every live one
    must be asked, so each of a few answers per live server must show it.
    """
    if check is sarotation.Check.NONE:
        return ""
    guest = _guest(run)
    trusted = sa.trusted_ids(_secret_bytes(secret, sa.TRUSTED_KEYS))
    signing = _signing_id(secret)
    leases = guest.list(
        "coordination.k8s.io/v1",
        "Lease",
        namespace="kube-system",
        selector=keyrotation.IDENTITY_SELECTOR,
    )
    live = keyrotation.live_apiservers(leases, run.now)
    if not live:
        return "no API server identity Lease renewed lately"
    for _ in range(3 * len(live)):
        jwks = sa.jwks_ids(guest.get_raw("/openid/v1/jwks"))
        kid = ""
        if check is sarotation.Check.SIGNING:
            kid = sa.token_key_id(guest.service_account_token(*SA_PROBE))
        if not sarotation.shows(check, trusted=trusted, signing=signing, jwks=jwks, kid=kid):
            what = "sign with" if check is sarotation.Check.SIGNING else "trust exactly"
            return f"waiting for every API server to {what} the keys of the Secret"
    return ""


EXTENSION_AUTH = ObjectRef("v1", "ConfigMap", "extension-apiserver-authentication", "kube-system")
# The guest's static pods (operators/kvm/children/ignition.py labels them).
CONTROL_PLANE_PODS = "tier=control-plane"


def rotate_ca(run: Run) -> None:
    """One move of a CA rotation, when one is asked for or due (carotation.py)."""
    spec, wanted = run.spec, run.spec.ca_rotation
    record = dict((run.body.get("status") or {}).get("caRotation") or {})
    if "answered" not in record:
        # The first look at this Cluster: its CA is new, so the request it
        # was created with asks for nothing.
        _ca_rotation(run, None, {"answered": wanted.request})
        return
    answered = str(record.get("answered") or "")
    request = str(record.get("request") or "")
    if not request or request == answered:
        request = wanted.request if wanted.request != answered else ""
    pem = b""
    if request or wanted.max_age is not None:
        # Read only when there is something to do or an age to check: idle
        # Clusters are most of them, and each read is a request per reconcile.
        bundle = _data(run.secret(names.ca_secret(spec.name)), "ca.crt")
        pem = b64decode(bundle) if bundle else b""
    if not request and wanted.max_age is not None:
        request = carotation.age_request(pem, timedelta(seconds=wanted.max_age), run.now)
        request = "" if request == answered else request
    rotating = c.CA_ROTATING
    if not request:
        last = f"; last rotation asked by {answered!r}" if answered else ""
        message = f"no rotation asked{last}"
        if wanted.max_age is not None:
            message = f"{message}; the CA is younger than spec.pki.caRotation.maxAge"
        _ca_rotation(run, cond.Observation.false(rotating, REASON_ROTATION_IDLE, message))
        return
    certificates = [
        item
        for item in run.kube.list(
            API_VERSION,
            CERTIFICATE.kind,
            namespace=spec.namespace,
            selector=f"{CLUSTER_LABEL}={spec.name}",
        )
        if not item["metadata"].get("deletionTimestamp")
    ]
    state = carotation.progress(request, certificates)
    phase = state.reached.name if state.reached is not None else "Requested"
    if state.reached == ca.Phase(ca.DONE, request):
        message = f"CA replaced; rotation asked by {request!r}"
        answer = {"answered": request, "request": None}
        _ca_rotation(run, cond.Observation.false(rotating, REASON_ROTATED, message), answer)
        return
    move = carotation.next_move(state, answered=answered, paused=wanted.paused)
    if move.ask is None:
        observation = cond.Observation.true(rotating, phase, f"waiting for {move.waiting}")
        _ca_rotation(run, observation, {"request": request})
        return
    missing = _ca_not_shown(run, move.check, pem)
    if missing:
        observation = cond.Observation.true(rotating, phase, missing[:1000])
        _ca_rotation(run, observation, {"request": request})
        return
    text = move.ask.text()
    asking = [
        item
        for item in certificates
        if (item["metadata"].get("annotations") or {}).get(ca.ROTATION_ANNOTATION) != text
    ]
    for item in asking:
        ref = ObjectRef(API_VERSION, CERTIFICATE.kind, item["metadata"]["name"], spec.namespace)
        run.kube.patch(ref, {"metadata": {"annotations": {ca.ROTATION_ANNOTATION: text}}})
    message = f"asked {len(asking)} of {len(certificates)} Certificates for {move.ask.name}"
    _ca_rotation(run, cond.Observation.true(rotating, phase, message), {"request": request})


def _ca_not_shown(run: Run, check: carotation.Check, bundle: bytes) -> str:
    """What the guest does not show yet of ``check``; "" once it does."""
    if check is carotation.Check.NONE:
        return ""
    try:
        guest = _guest(run)
        published = guest.get(EXTENSION_AUTH)
        missing = carotation.missing(check, _guest_view(run, guest, published, bundle), bundle)
        kept = carotation.pruned(check, published, bundle)
        if missing and kept is not None:
            # The API servers' controller only ever adds to the published
            # list (a CA leaves it when it expires): take the retired CAs
            # out, and see at the next look whether an API server that
            # still trusts one writes it back.
            guest.patch(EXTENSION_AUTH, {"data": {"client-ca-file": kept}})
            missing += "; the retired CAs were taken out of the published list"
        return missing
    except Exception as exc:  # the guest's answer, whatever it is, goes into the condition
        return f"waiting for the guest API: {type(exc).__name__}: {exc}"


def _guest_view(
    run: Run, guest: Kube, published: Mapping[str, Any] | None, bundle: bytes
) -> carotation.GuestView:
    signer = ca.signer_of(guest.server_certificate(), [bundle])
    etcd = next(iter(run.of(ETCD_CLUSTER)), None)
    control_plane = guest.list("v1", "Pod", namespace="kube-system", selector=CONTROL_PLANE_PODS)
    return carotation.GuestView(
        client_cas=carotation.client_cas(published),
        serving_signer=ca.fingerprint(signer) if signer is not None else "",
        etcd_trust=str(((etcd or {}).get("status") or {}).get("trustedCAs") or ""),
        control_plane_trust=carotation.control_plane_trust(control_plane),
    )


def _ca_rotation(
    run: Run, observation: cond.Observation | None, record: Mapping[str, Any] | None = None
) -> None:
    recheck = (
        run.now + ROTATION_RECHECK
        if observation is not None and observation.status == c.TRUE
        else None
    )
    previous = dict((run.body.get("status") or {}).get("caRotation") or {})
    run.observed = Observed(
        **{
            **run.observed.__dict__,
            "ca_rotation": observation,
            "ca_rotation_recheck": recheck,
            "ca_rotation_status": {**previous, **record} if record is not None else None,
        }
    )


def report(spec: ClusterSpec, run: Run, outcome: Outcome) -> Report:
    """The aggregated status; after a failed step Ready is left to the kit's failure report."""
    result = aggregate.report(spec, run.observed, service.endpoint(spec))
    if outcome.ok:
        return result
    return Report(
        phase=result.phase,
        observations=tuple(o for o in result.observations if o.type != c.READY),
        fields=result.fields,
    )


STEPS: tuple[Step[Run], ...] = (
    Step("observe", observe),
    Step("encryption", ensure_encryption),
    # Before the certificates: the API certificate carries the Service's ClusterIP.
    Step("service", apply_service),
    Step("certificates", apply_certificates),
    Step("network", apply_network),
    Step("etcd", apply_etcd),
    Step("remediate", remediate),
    Step("nodes", apply_nodes),
    Step("endpoints", apply_endpoints),
    Step("kubeconfig", write_kubeconfig),
    Step("encryption-rotation", rotate_encryption),
    Step("service-account-rotation", rotate_service_account),
    Step("ca-rotation", rotate_ca),
)


# Pausing -------------------------------------------------------------------


def propagate_pause(
    pauser: Kube, spec: ClusterRef, paused: bool, listed: Listed | None = None
) -> list[str]:
    """Set or lift ``g8s.io/paused`` on every child CR; returns the children changed.

    ``pauser`` is a field manager of its own that owns only this annotation:
    applying a child without it removes it, and nothing else. The children
    are the kept ones where ``listed`` holds them, so a look that changes
    nothing asks the API server nothing (it ran at every wake of every
    Cluster and listed the four kinds each time); a kind it changed is
    listed again at its next look.
    """
    changed: list[str] = []
    for kind in CHILD_KINDS:
        before = len(changed)
        for child in children_of(pauser, spec, kind, listed):
            meta = child["metadata"]
            has = (meta.get("annotations") or {}).get(PAUSED) == "true"
            if has == paused:
                continue
            patch_meta: dict[str, Any] = {"name": meta["name"], "namespace": spec.namespace}
            if paused:
                patch_meta["annotations"] = {PAUSED: "true"}
            pauser.apply(
                {"apiVersion": child["apiVersion"], "kind": child["kind"], "metadata": patch_meta}
            )
            changed.append(f"{child['kind']}/{meta['name']}")
        if listed is not None and len(changed) > before:
            listed.stale((spec.namespace, kind.kind, spec.name))
    return changed


# Deletion (docs/design.md#deletion-order) ---------------------------------------------------


def stage_of(kind: str, child: Mapping[str, Any]) -> str:
    if kind == KVM_NODE.kind:
        role = (child.get("spec") or {}).get("role")
        return policies.CONTROL_PLANE if role == CONTROLPLANE else policies.WORKERS
    return {
        ETCD_CLUSTER.kind: policies.ETCD,
        CLUSTER_NETWORK.kind: policies.NETWORK,
        CERTIFICATE.kind: policies.CERTIFICATES,
    }[kind]


@dataclass(frozen=True)
class DeletionStage:
    """The stage a Cluster's deletion is in; ``name`` None once every child is gone."""

    name: str | None
    left: int = 0
    # The stage's children as the watches key them (shared.owners.child_key).
    keys: tuple[str, ...] = ()


# The child kinds in the order of their deletion stages (policies.DELETION_ORDER):
# KVMNodes hold the first two.
DELETION_KINDS: tuple[Kind, ...] = (KVM_NODE, ETCD_CLUSTER, CLUSTER_NETWORK, CERTIFICATE)


def delete_next(kube: Kube, spec: ClusterRef) -> DeletionStage:
    """Delete the children of the first stage that has any; that stage and what is left of it.

    The kinds are listed in stage order and no further than the first with
    children: while a cluster's nodes go, one listing a look instead of four
    (100 clusters deleted at once looked about 12 times each).
    """
    for kind in DELETION_KINDS:
        staged: dict[str, list[dict[str, Any]]] = {}
        for child in children_of(kube, spec, kind):
            staged.setdefault(stage_of(kind.kind, child), []).append(child)
        stage = policies.deletion_stage({k: len(v) for k, v in staged.items()})
        if stage is not None:
            return delete_stage(kube, spec, kind, stage, staged[stage])
    for ref in leftovers(spec):
        kube.delete(ref)
    return DeletionStage(None)


def delete_stage(
    kube: Kube, spec: ClusterRef, kind: Kind, stage: str, children: Sequence[Mapping[str, Any]]
) -> DeletionStage:
    keys = []
    for child in children:
        name = str(child["metadata"]["name"])
        keys.append(f"{spec.namespace}/{kind.kind}/{name}")
        if not child["metadata"].get("deletionTimestamp"):
            kube.delete(ObjectRef(API_VERSION, kind.kind, name, spec.namespace))
    return DeletionStage(stage, len(keys), tuple(keys))


def leftovers(spec: ClusterRef) -> list[ObjectRef]:
    """What the cluster operator wrote besides child CRs, removed last."""
    ns = spec.namespace
    return [
        ObjectRef("v1", "Secret", names.kubeconfig_secret(spec.name), ns),
        ObjectRef("v1", "Service", names.apiserver_service(spec.name), ns),
        ObjectRef("discovery.k8s.io/v1", "EndpointSlice", names.apiserver_service(spec.name), ns),
        ObjectRef("v1", "Secret", names.encryption_secret(spec.name), ns),
    ]


# Watching children ---------------------------------------------------------------


def child_token(body: Mapping[str, Any]) -> str:
    """What of a child the Cluster's status depends on, as one short string."""
    meta = body.get("metadata") or {}
    status = body.get("status") or {}
    ready = cond.get(status.get("conditions") or [], c.READY) or {}
    parts = (
        body.get("kind"),
        meta.get("name"),
        meta.get("generation"),
        status.get("observedGeneration"),
        ready.get("status"),
        ready.get("reason"),
        "deleting" if meta.get("deletionTimestamp") else "",
    )
    return "/".join(str(p or "") for p in parts)
